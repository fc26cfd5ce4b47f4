"""Server-free helpers: emulate what the server stores for a PutDocument request."""

from __future__ import annotations

import os
from pathlib import Path

from treestore._proto import treestore_pb2 as pb
from treestore.pageindex import PageIndexDocument
from treestore.types import Document, Node


def _to_node(ni: pb.NodeInput, parent: str, pos: int) -> pb.Node:
    n = pb.Node(node_id=ni.node_id, parent_id=parent, position=pos, title=ni.title,
                summary=ni.summary, text=ni.text, extra_json=ni.extra_json,
                has_children=bool(ni.children))
    for f in ("start_page", "end_page", "line_num"):
        if ni.HasField(f):
            setattr(n, f, getattr(ni, f))
    n.children.extend(_to_node(c, ni.node_id, i) for i, c in enumerate(ni.children))
    return n


def store_roundtrip(doc: PageIndexDocument) -> tuple[Document, list[Node]]:
    """Serialize the PutDocumentRequest, parse it back and build what GetDocument with
    include_tree/include_text would return."""
    req = pb.PutDocumentRequest(doc_id=doc.doc_id, name=doc.name, description=doc.description)
    req.metadata.update(doc.metadata)
    req.roots.extend(n.to_proto() for n in doc.roots)
    req = pb.PutDocumentRequest.FromString(req.SerializeToString())
    roots = [_to_node(r, "", i) for i, r in enumerate(req.roots)]
    resp = pb.GetDocumentResponse(
        document=pb.Document(doc_id=req.doc_id, name=req.name, description=req.description,
                             metadata=dict(req.metadata), version=1),
        roots=roots)
    resp = pb.GetDocumentResponse.FromString(resp.SerializeToString())
    return Document.from_proto(resp.document), [Node.from_proto(n) for n in resp.roots]


def fixtures_dir() -> Path:
    """The PageIndex fixtures kept in the repository (env TREESTORE_FIXTURES overrides)."""
    env = os.environ.get("TREESTORE_FIXTURES")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "fixtures" / "pageindex"


FIXTURES = fixtures_dir()

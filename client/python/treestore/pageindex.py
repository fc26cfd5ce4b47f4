"""Convert between PageIndex JSON and TreeStore documents.

PageIndex (https://github.com/VectifyAI/PageIndex) writes a document's table-of-contents
tree as::

    {"doc_name": "...", "doc_description": "...",          # doc_description optional
     "structure": [{"title": "...", "node_id": "0000", "start_index": 1, "end_index": 3,
                    "summary": "...", "text": "...", "nodes": [...]}, ...]}

(markdown mode: nodes carry ``line_num`` instead of ``start_index``/``end_index``). Key
order varies between PageIndex versions and forks add keys, so conversion ignores order and
keeps every unknown key.

Mapping (lossless: ``to_pageindex(*from_pageindex(x)) == x`` for any JSON tree):

===================  =================  ============================================
PageIndex key        TreeStore field    when
===================  =================  ============================================
``doc_name``         Document.name      a non-empty string
``doc_description``  Document.desc.     a non-empty string
``title``            Node.title         a non-empty string
``node_id``          Node.node_id       a non-empty string (kept as given, "0007")
``summary``/``text`` Node.summary/text  a non-empty string
``start_index``      Node.start_page    an integer (int64)
``end_index``        Node.end_page      an integer
``line_num``         Node.line_num      an integer
``nodes``            Node.children      a non-empty list of objects
anything else        Node.extra_json    always (including the keys above when their
                                        value does not fit, e.g. ``"summary": ""``)
===================  =================  ============================================

Top-level keys other than these are kept in document metadata ``pageindex.extra_json``.
A node without a usable ``node_id`` gets a generated one (``ts-<n>``); the original value is
kept in ``extra_json`` under the reserved key ``__treestore__`` and restored on export.
Metadata keys starting with ``pageindex.`` are reserved for this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

from .errors import InvalidArgument
from .types import Document, Node, NodeInput, TimeLike, WriteResult

__all__ = [
    "PageIndexDocument",
    "from_pageindex",
    "load_pageindex",
    "to_pageindex",
    "doc_id_from_path",
    "ingest",
    "export_document",
    "aingest",
    "aexport_document",
    "RESERVED_KEY",
]

RESERVED_KEY = "__treestore__"
META_EXTRA = "pageindex.extra_json"
META_SHAPE = "pageindex.shape"  # "list" when the input was a bare list of nodes
META_MODE = "pageindex.mode"  # "pdf" or "markdown" (informational)
META_SOURCE = "pageindex.source"  # file name the document was read from (informational)
META_NO_STRUCTURE = "pageindex.structure_absent"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

_STR_FIELDS = (("title", "title"), ("summary", "summary"), ("text", "text"))
_INT_FIELDS = (("start_index", "start_page"), ("end_index", "end_page"), ("line_num", "line_num"))


@dataclass
class PageIndexDocument:
    """A PageIndex tree converted for :meth:`TreeStoreClient.put_document`."""

    doc_id: str
    name: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    roots: list[NodeInput] = field(default_factory=list)

    def node_count(self) -> int:
        def count(nodes: list[NodeInput]) -> int:
            return sum(1 + count(n.children) for n in nodes)

        return count(self.roots)


def _is_int64(value: Any) -> bool:
    return type(value) is int and _INT64_MIN <= value <= _INT64_MAX


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def doc_id_from_path(path: Union[str, Path]) -> str:
    """A document id from a file name: the stem without a ``_structure`` suffix, with
    characters other than letters, digits, ``.``, ``_`` and ``-`` replaced by ``-``.

    >>> doc_id_from_path("results/2019-annual-report_structure.json")
    '2019-annual-report'
    """
    stem = Path(path).name
    for suffix in (".json",):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    if stem.endswith("_structure"):
        stem = stem[: -len("_structure")]
    doc_id = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-")
    return doc_id[:256] or "document"


def _collect_ids(nodes: Any, out: set[str]) -> None:
    if not isinstance(nodes, list):
        return
    for n in nodes:
        if isinstance(n, dict):
            nid = n.get("node_id")
            if isinstance(nid, str) and nid:
                out.add(nid)
            _collect_ids(n.get("nodes"), out)


class _Converter:
    def __init__(self, structure: Any) -> None:
        self.used: set[str] = set()
        _collect_ids(structure, self.used)
        self.seen: set[str] = set()
        self.counter = 0
        self.markdown = False

    def _new_id(self) -> str:
        while True:
            self.counter += 1
            candidate = f"ts-{self.counter}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate

    def node(self, obj: Any, where: str) -> NodeInput:
        if not isinstance(obj, dict):
            raise InvalidArgument(f"{where}: a PageIndex node must be a JSON object, got "
                                  f"{type(obj).__name__}")
        extra: dict[str, Any] = {}
        reserved: dict[str, Any] = {}
        node_id = obj.get("node_id")
        if isinstance(node_id, str) and node_id and node_id not in self.seen:
            pass
        else:
            if "node_id" in obj:
                reserved["node_id"] = obj["node_id"]
            else:
                reserved["node_id_absent"] = True
            node_id = self._new_id()
        self.seen.add(node_id)
        out = NodeInput(node_id=node_id)
        for key, value in obj.items():
            if key == "node_id":
                continue
            if key in ("title", "summary", "text"):
                if isinstance(value, str) and value:
                    setattr(out, key, value)
                else:
                    extra[key] = value
            elif key in ("start_index", "end_index", "line_num"):
                if _is_int64(value):
                    setattr(out, dict(_INT_FIELDS)[key], value)
                    if key == "line_num":
                        self.markdown = True
                else:
                    extra[key] = value
            elif key == "nodes":
                if isinstance(value, list) and value and all(isinstance(c, dict) for c in value):
                    out.children = [self.node(c, f"{where}.nodes[{i}]")
                                    for i, c in enumerate(value)]
                else:
                    extra[key] = value
            elif key == RESERVED_KEY:
                raise InvalidArgument(f"{where}: key {RESERVED_KEY!r} is reserved")
            else:
                extra[key] = value
        if reserved:
            extra[RESERVED_KEY] = reserved
        out.extra_json = _dumps(extra) if extra else ""
        return out


def from_pageindex(data: Union[Mapping[str, Any], list[Any]], *, doc_id: Optional[str] = None,
                   source_name: Optional[str] = None) -> PageIndexDocument:
    """Convert parsed PageIndex JSON (a dict, or a bare list of nodes) to a
    :class:`PageIndexDocument`. ``doc_id`` defaults to one derived from ``source_name``
    (a file name), else from doc_name."""
    metadata: dict[str, str] = {}
    if isinstance(data, list):
        structure: Any = data
        top: dict[str, Any] = {}
        metadata[META_SHAPE] = "list"
    elif isinstance(data, Mapping):
        top = dict(data)
        if "structure" in top:
            structure = top.pop("structure")
        else:
            structure = []
            metadata[META_NO_STRUCTURE] = "true"
    else:
        raise InvalidArgument("PageIndex JSON must be an object with 'structure' or a list of "
                              f"nodes, got {type(data).__name__}")
    if not isinstance(structure, list):
        raise InvalidArgument("structure: must be a list of nodes")

    name = description = ""
    doc_name = top.get("doc_name")
    if isinstance(doc_name, str) and doc_name:
        name = top.pop("doc_name")
    doc_desc = top.get("doc_description")
    if isinstance(doc_desc, str) and doc_desc:
        description = top.pop("doc_description")
    if top:
        metadata[META_EXTRA] = _dumps(top)

    conv = _Converter(structure)
    roots = [conv.node(n, f"structure[{i}]") for i, n in enumerate(structure)]
    metadata[META_MODE] = "markdown" if conv.markdown else "pdf"
    if source_name:
        metadata[META_SOURCE] = Path(source_name).name

    if not doc_id:
        if source_name:
            doc_id = doc_id_from_path(source_name)
        elif name:
            doc_id = doc_id_from_path(name.rsplit(".", 1)[0] if "." in name else name)
        else:
            raise InvalidArgument("doc_id: required when neither a file name nor doc_name is "
                                  "available")
    return PageIndexDocument(doc_id=doc_id, name=name, description=description,
                             metadata=metadata, roots=roots)


def load_pageindex(source: Union[str, Path, Mapping[str, Any], list[Any]], *,
                   doc_id: Optional[str] = None) -> PageIndexDocument:
    """Read a PageIndex JSON file (path) or parsed JSON (dict/list) into a
    :class:`PageIndexDocument`; ``doc_id`` defaults to one derived from the file name."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            with path.open("r", encoding="utf-8") as fh:
                data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise InvalidArgument(f"{path}: not valid JSON ({exc})") from None
        return from_pageindex(data, doc_id=doc_id, source_name=str(path))
    return from_pageindex(source, doc_id=doc_id)


def _node_to_json(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    extra: dict[str, Any] = json.loads(node.extra_json) if node.extra_json else {}
    if not isinstance(extra, dict):
        extra = {"extra_json": extra}
    reserved = extra.pop(RESERVED_KEY, None) or {}
    if node.title:
        out["title"] = node.title
    if "node_id" in reserved:
        out["node_id"] = reserved["node_id"]
    elif not reserved.get("node_id_absent"):
        out["node_id"] = node.node_id
    for key, attr in _INT_FIELDS:
        value = getattr(node, attr)
        if value is not None:
            out[key] = value
    if node.summary:
        out["summary"] = node.summary
    if node.text:
        out["text"] = node.text
    for key, value in extra.items():
        out.setdefault(key, value)
    if node.children:
        out["nodes"] = [_node_to_json(c) for c in node.children]
    return out


def to_pageindex(document: Document, roots: Iterable[Node]) -> Any:
    """Export a stored document (with its tree, text included) to PageIndex JSON: for a
    document written by :func:`from_pageindex`, equal to the original JSON."""
    meta = document.metadata
    structure = [_node_to_json(n) for n in roots]
    if meta.get(META_SHAPE) == "list":
        return structure
    out: dict[str, Any] = {}
    if document.name:
        out["doc_name"] = document.name
    if document.description:
        out["doc_description"] = document.description
    if meta.get(META_NO_STRUCTURE) != "true" or structure:
        out["structure"] = structure
    if meta.get(META_EXTRA):
        for key, value in json.loads(meta[META_EXTRA]).items():
            out.setdefault(key, value)
    return out


# ---------------------------------------------------------------------------------------
# with a client
# ---------------------------------------------------------------------------------------


def ingest(client: Any, source: Union[str, Path, Mapping[str, Any], list[Any]], *,
           doc_id: Optional[str] = None, overwrite: bool = False,
           metadata: Optional[Mapping[str, str]] = None,
           effective_time: Optional[TimeLike] = None, message: str = "",
           timeout: Optional[float] = None) -> WriteResult:
    """Load a PageIndex file/dict and store it with ``client.put_document``."""
    doc = load_pageindex(source, doc_id=doc_id)
    meta = dict(doc.metadata)
    meta.update(metadata or {})
    return client.put_document(doc.doc_id, doc.roots, name=doc.name,
                               description=doc.description, metadata=meta,
                               overwrite=overwrite, effective_time=effective_time,
                               message=message or f"ingest {meta.get(META_SOURCE, doc.doc_id)}",
                               timeout=timeout)


def export_document(client: Any, doc_id: str, *, version: Optional[int] = None,
                    as_of: Optional[TimeLike] = None, axis: str = "commit",
                    timeout: Optional[float] = None) -> Any:
    """Read a stored document (whole tree with text) and return its PageIndex JSON."""
    document, roots = client.get_document(doc_id, include_tree=True, include_text=True,
                                          version=version, as_of=as_of, axis=axis,
                                          timeout=timeout)
    return to_pageindex(document, roots)


async def aingest(client: Any, source: Union[str, Path, Mapping[str, Any], list[Any]], *,
                  doc_id: Optional[str] = None, overwrite: bool = False,
                  metadata: Optional[Mapping[str, str]] = None,
                  effective_time: Optional[TimeLike] = None, message: str = "",
                  timeout: Optional[float] = None) -> WriteResult:
    """:func:`ingest` for :class:`AsyncTreeStoreClient`."""
    doc = load_pageindex(source, doc_id=doc_id)
    meta = dict(doc.metadata)
    meta.update(metadata or {})
    return await client.put_document(doc.doc_id, doc.roots, name=doc.name,
                                     description=doc.description, metadata=meta,
                                     overwrite=overwrite, effective_time=effective_time,
                                     message=message or
                                     f"ingest {meta.get(META_SOURCE, doc.doc_id)}",
                                     timeout=timeout)


async def aexport_document(client: Any, doc_id: str, *, version: Optional[int] = None,
                           as_of: Optional[TimeLike] = None, axis: str = "commit",
                           timeout: Optional[float] = None) -> Any:
    """:func:`export_document` for :class:`AsyncTreeStoreClient`."""
    document, roots = await client.get_document(doc_id, include_tree=True, include_text=True,
                                                version=version, as_of=as_of, axis=axis,
                                                timeout=timeout)
    return to_pageindex(document, roots)

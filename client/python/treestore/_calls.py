"""Request builders shared by the sync and async clients.

Each public function here has the signature and docstring of one client method; it
validates and converts the Python arguments into a :class:`Call` (request message, RPC name,
response parser, idempotency). The clients only execute calls (see ``client.py``/``aio.py``).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterable, Mapping, Optional, Sequence, TypeVar, Union

from google.protobuf import field_mask_pb2

from ._node import _view
from ._proto import treestore_pb2 as pb
from .errors import InvalidArgument
from .types import (
    CrossReference,
    Diff,
    DocRef,
    Document,
    Health,
    Node,
    NodeChange,
    NodeInput,
    NodeLike,
    NodeMove,
    Page,
    SearchHit,
    Stats,
    StoredToolResult,
    TimeLike,
    ToolResult,
    TransactionInfo,
    Version,
    WriteResult,
    to_micros,
)

R = TypeVar("R")

#: Node content fields accepted by ``update_node`` (the UpdateNode field-mask paths).
UPDATABLE_FIELDS = ("title", "summary", "text", "start_page", "end_page", "line_num", "extra_json")

_AXES = {"commit": pb.TIME_AXIS_COMMIT, "effective": pb.TIME_AXIS_EFFECTIVE}
_DIRECTIONS = {"outgoing": pb.DIRECTION_OUTGOING, "incoming": pb.DIRECTION_INCOMING,
               "both": pb.DIRECTION_BOTH}
_MISS = {pb.MISS_REASON_NOT_FOUND: "not_found", pb.MISS_REASON_EXPIRED: "expired",
         pb.MISS_REASON_STALE: "stale"}

DocRefLike = Union[DocRef, str, Sequence[Any], Mapping[str, Any]]


@dataclass(slots=True)
class Call(Generic[R]):
    """One RPC to execute: ``method`` on the TreeStore service with ``request``; ``parse``
    turns the response into the result. Built once per client call: keep it cheap (slots,
    positional construction in the builders)."""

    method: str
    request: Any
    parse: Callable[[Any], R]
    idempotent: bool
    timeout: Optional[float] = None


def _method_signature(builder: Callable[..., Any]) -> inspect.Signature:
    """The builder's signature as a client method: ``self`` first, returning ``R`` instead
    of ``Call[R]`` (for help() and IDEs)."""
    sig = inspect.signature(builder)
    ret = sig.return_annotation
    if isinstance(ret, str) and ret.startswith("Call[") and ret.endswith("]"):
        ret = ret[len("Call["):-1]
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    params.extend(sig.parameters.values())
    return sig.replace(parameters=params, return_annotation=ret)


# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------


def _read_at(version: Optional[int], as_of: Optional[TimeLike], axis: str) -> Optional[pb.ReadAt]:
    if version is not None and as_of is not None:
        raise InvalidArgument("read_at: give version or as_of, not both")
    if version is not None:
        if version < 0:
            raise InvalidArgument("read_at.version: must be >= 0")
        return pb.ReadAt(version=version)
    if as_of is not None:
        return pb.ReadAt(as_of=_as_of(as_of, axis))
    return None


def _as_of(time: TimeLike, axis: str) -> pb.AsOf:
    try:
        axis_value = _AXES[axis]
    except KeyError:
        raise InvalidArgument(f"axis: must be 'commit' or 'effective', got {axis!r}") from None
    return pb.AsOf(time=to_micros(time, field_name="as_of"), axis=axis_value)


def _check_read(read_at: Optional[pb.ReadAt], transaction_id: str) -> None:
    if read_at is not None and transaction_id:
        raise InvalidArgument("read_at: cannot be combined with transaction_id")


def _set_read(req: Any, version: Optional[int], as_of: Optional[TimeLike], axis: str,
              transaction_id: str) -> None:
    """Set ``read_at`` or ``transaction_id`` of a read request (the common case, neither,
    costs two comparisons)."""
    if version is None and as_of is None:
        if transaction_id:
            req.transaction_id = transaction_id
        return
    read_at = _read_at(version, as_of, axis)
    _check_read(read_at, transaction_id)
    req.read_at.CopyFrom(read_at)


def _set_write_common(req: Any, transaction_id: str, effective_time: Optional[TimeLike],
                      message: str) -> None:
    req.transaction_id = transaction_id
    req.message = message
    if effective_time is not None:
        req.effective_time = to_micros(effective_time, field_name="effective_time")


def _nonempty(name: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{name}: must be a non-empty string")


def _json_text(name: str, value: str) -> str:
    """Validate ready JSON text."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name}: expected JSON text (str), got {type(value).__name__}")
    try:
        json.loads(value)
    except ValueError as exc:
        raise InvalidArgument(f"{name}: not valid JSON ({exc})") from None
    return value


def _json_value(name: str, value: Any) -> str:
    """Serialize a Python value to compact JSON."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True,
                          allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{name}: not JSON-serializable ({exc})") from None


def _version(m: pb.Version) -> Version:
    return Version.from_proto(m)


def _docref_list(items: Iterable[pb.DocRef]) -> list[DocRef]:
    return [DocRef(d.doc_id, d.version) for d in items]


# ---------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------


def put_document(doc_id: str = "", roots: Iterable[NodeLike] = (), *, name: str = "",
                 description: str = "", metadata: Optional[Mapping[str, str]] = None,
                 overwrite: bool = False, transaction_id: str = "",
                 effective_time: Optional[TimeLike] = None, message: str = "",
                 commit_time: Optional[TimeLike] = None,
                 timeout: Optional[float] = None) -> Call[WriteResult]:
    """Create a document from a whole tree (or replace it with ``overwrite=True``).

    ``doc_id`` empty = let the server generate one (see ``result.document.doc_id``).
    ``roots`` are the top-level nodes (NodeInput, Node or dicts) with nested children.
    Returns a :class:`WriteResult` with ``document`` and ``version``. A new ``doc_id``
    starts at version 1; a deleted document created again continues its numbering (its first
    version is the deleted one's last + 1), so a stored version number never names two
    different states of one id.
    ``commit_time`` is for imports (a migration carrying history over): the new version's
    commit time instead of the server's clock; it must be later than the document's last
    commit time and not in the future (else InvalidArgument), and not in a transaction.
    Raises AlreadyExists (exists and not overwrite), InvalidArgument, FailedPrecondition
    (duplicate node ids).
    """
    req = pb.PutDocumentRequest(doc_id=doc_id, name=name, description=description,
                                overwrite=overwrite)
    if commit_time is not None:
        req.commit_time = to_micros(commit_time, field_name="commit_time")
    req.metadata.update(dict(metadata or {}))
    req.roots.extend(NodeInput.coerce(n).to_proto() for n in roots)
    _set_write_common(req, transaction_id, effective_time, message)
    return Call("PutDocument", req,
                lambda r: WriteResult(version=_version(r.version),
                                      document=Document.from_proto(r.document)),
                idempotent=False, timeout=timeout)


def get_document(doc_id: str, *, include_tree: bool = False, include_text: bool = False,
                 version: Optional[int] = None, as_of: Optional[TimeLike] = None,
                 axis: str = "commit", transaction_id: str = "",
                 timeout: Optional[float] = None) -> Call[tuple[Document, list[Node]]]:
    """Return ``(document, roots)`` at the latest version, a ``version`` or ``as_of`` a time
    (``axis`` "commit" or "effective"). ``roots`` is empty unless ``include_tree``.
    Raises NotFound."""
    _nonempty("doc_id", doc_id)
    req = pb.GetDocumentRequest(doc_id=doc_id, include_tree=include_tree,
                                include_text=include_text)
    _set_read(req, version, as_of, axis, transaction_id)
    return Call("GetDocument", req, _parse_get_document, True, timeout)


def _parse_get_document(r: pb.GetDocumentResponse) -> tuple[Document, list[Node]]:
    return Document.from_proto(r.document), list(map(_view, r.roots))


def list_documents(*, page_size: int = 0, page_token: str = "", id_prefix: str = "",
                   metadata_filter: Optional[Mapping[str, str]] = None,
                   timeout: Optional[float] = None) -> Call[Page[Document]]:
    """One page of documents ordered by doc_id (page_size default 100, max 1000).
    ``metadata_filter``: every key/value must match exactly."""
    req = pb.ListDocumentsRequest(page_size=page_size, page_token=page_token, id_prefix=id_prefix)
    req.metadata_filter.update(dict(metadata_filter or {}))
    return Call("ListDocuments", req,
                lambda r: Page([Document.from_proto(d) for d in r.documents], r.next_page_token),
                idempotent=True, timeout=timeout)


def delete_document(doc_id: str, *, expected_version: Optional[int] = None,
                    timeout: Optional[float] = None) -> Call[tuple[int, int]]:
    """Delete a document with its history; returns ``(nodes_deleted, versions_deleted)``.
    Creating the id again later continues its version numbers (see ``put_document``).
    Raises NotFound, FailedPrecondition (expected_version mismatch)."""
    _nonempty("doc_id", doc_id)
    req = pb.DeleteDocumentRequest(doc_id=doc_id)
    if expected_version is not None:
        req.expected_version = expected_version
    return Call("DeleteDocument", req, lambda r: (r.nodes_deleted, r.versions_deleted),
                idempotent=False, timeout=timeout)


def list_versions(doc_id: str, *, page_size: int = 0, page_token: str = "",
                  timeout: Optional[float] = None) -> Call[Page[Version]]:
    """One page of a document's versions, oldest first. Raises NotFound."""
    _nonempty("doc_id", doc_id)
    req = pb.ListVersionsRequest(doc_id=doc_id, page_size=page_size, page_token=page_token)
    return Call("ListVersions", req,
                lambda r: Page([_version(v) for v in r.versions], r.next_page_token),
                idempotent=True, timeout=timeout)


# ---------------------------------------------------------------------------------------
# node reads
# ---------------------------------------------------------------------------------------


def get_node(doc_id: str, node_id: str, *, include_text: bool = True,
             version: Optional[int] = None, as_of: Optional[TimeLike] = None,
             axis: str = "commit", transaction_id: str = "",
             timeout: Optional[float] = None) -> Call[Node]:
    """One node (text included by default; children not loaded). Raises NotFound."""
    _nonempty("doc_id", doc_id)
    _nonempty("node_id", node_id)
    req = pb.GetNodeRequest(doc_id=doc_id, node_id=node_id, include_text=include_text)
    _set_read(req, version, as_of, axis, transaction_id)
    return Call("GetNode", req, _parse_get_node, True, timeout)


def _parse_get_node(r: pb.GetNodeResponse) -> Node:
    return _view(r.node)


def get_subtree(doc_id: str, node_id: str = "", *, max_depth: int = 0,
                include_text: bool = False, version: Optional[int] = None,
                as_of: Optional[TimeLike] = None, axis: str = "commit",
                transaction_id: str = "", timeout: Optional[float] = None) -> Call[list[Node]]:
    """A node with nested children down to ``max_depth`` levels (0 = all; 1 = the node only),
    as a one-element list; or the whole document's top-level nodes when ``node_id`` is ""."""
    _nonempty("doc_id", doc_id)
    if max_depth < 0:
        raise InvalidArgument("max_depth: must be >= 0")
    req = pb.GetSubtreeRequest(doc_id=doc_id, node_id=node_id, max_depth=max_depth,
                               include_text=include_text)
    _set_read(req, version, as_of, axis, transaction_id)
    return Call("GetSubtree", req, _parse_get_subtree, True, timeout)


def _parse_get_subtree(r: pb.GetSubtreeResponse) -> list[Node]:
    return list(map(_view, r.roots))


def get_children(doc_id: str, node_id: str = "", *, include_text: bool = False,
                 version: Optional[int] = None, as_of: Optional[TimeLike] = None,
                 axis: str = "commit", transaction_id: str = "", page_size: int = 0,
                 page_token: str = "", timeout: Optional[float] = None) -> Call[Page[Node]]:
    """One page of the direct children of ``node_id`` ("" = top-level nodes), by position."""
    _nonempty("doc_id", doc_id)
    req = pb.GetChildrenRequest(doc_id=doc_id, node_id=node_id, include_text=include_text,
                                page_size=page_size, page_token=page_token)
    _set_read(req, version, as_of, axis, transaction_id)
    return Call("GetChildren", req, _parse_get_children, True, timeout)


def _parse_get_children(r: pb.GetChildrenResponse) -> Page[Node]:
    return Page(list(map(_view, r.children)), r.next_page_token)


def get_ancestors(doc_id: str, node_id: str, *, include_self: bool = False,
                  version: Optional[int] = None, as_of: Optional[TimeLike] = None,
                  axis: str = "commit", transaction_id: str = "",
                  timeout: Optional[float] = None) -> Call[list[Node]]:
    """The path from the top-level ancestor down to the parent (root first); with
    ``include_self`` the node itself is appended last."""
    _nonempty("doc_id", doc_id)
    _nonempty("node_id", node_id)
    req = pb.GetAncestorsRequest(doc_id=doc_id, node_id=node_id, include_self=include_self)
    _set_read(req, version, as_of, axis, transaction_id)
    return Call("GetAncestors", req, _parse_get_ancestors, True, timeout)


def _parse_get_ancestors(r: pb.GetAncestorsResponse) -> list[Node]:
    return list(map(_view, r.ancestors))


# ---------------------------------------------------------------------------------------
# the version a read answered at
# ---------------------------------------------------------------------------------------


def _response_version(r: Any) -> int:
    return r.version


def _document_version(r: pb.GetDocumentResponse) -> int:
    return r.document.version


#: RPC of a read -> the version its response was read at
READ_VERSION: dict[str, Callable[[Any], int]] = {
    "GetNode": _response_version,
    "GetSubtree": _response_version,
    "GetChildren": _response_version,
    "GetAncestors": _response_version,
    "GetDocument": _document_version,
}

_READS: dict[str, Callable[..., Call[Any]]] = {
    "get_document": get_document, "get_node": get_node, "get_subtree": get_subtree,
    "get_children": get_children, "get_ancestors": get_ancestors}


def read_versioned(method: str, *args: Any, **kwargs: Any) -> Call[tuple[Any, int]]:
    """The read ``method`` ("get_node", "get_subtree", "get_children", "get_ancestors" or
    "get_document", with its arguments) returning ``(result, version read)``."""
    try:
        builder = _READS[method]
    except KeyError:
        raise InvalidArgument(f"read_versioned: method must be one of {sorted(_READS)}, "
                              f"got {method!r}") from None
    call = builder(*args, **kwargs)
    parse, version_of = call.parse, READ_VERSION[call.method]
    call.parse = lambda r: (parse(r), version_of(r))
    return call


# ---------------------------------------------------------------------------------------
# node writes
# ---------------------------------------------------------------------------------------


def insert_node(doc_id: str, parent_id: str, node: NodeLike, *, position: Optional[int] = None,
                transaction_id: str = "", effective_time: Optional[TimeLike] = None,
                message: str = "", timeout: Optional[float] = None) -> Call[WriteResult]:
    """Insert ``node`` (with nested children) under ``parent_id`` ("" = top level) at
    ``position`` (None = append). ``result.count`` = nodes inserted.
    Raises NotFound (parent), AlreadyExists (node id taken), InvalidArgument (position)."""
    _nonempty("doc_id", doc_id)
    node_in = NodeInput.coerce(node)
    _nonempty("node.node_id", node_in.node_id)
    req = pb.InsertNodeRequest(doc_id=doc_id, parent_id=parent_id)
    req.node.CopyFrom(node_in.to_proto())
    if position is not None:
        if position < 0:
            raise InvalidArgument("position: must be >= 0")
        req.position = position
    _set_write_common(req, transaction_id, effective_time, message)
    return Call("InsertNode", req,
                lambda r: WriteResult(version=_version(r.version), node=_view(r.node),
                                      count=r.nodes_inserted),
                idempotent=False, timeout=timeout)


class _Unset:
    """Marker for "field not given" in update_node (None means "clear the field")."""

    def __repr__(self) -> str:
        return "UNSET"


_UNSET: Any = _Unset()


def update_node(doc_id: str, node_id: str, *, title: Optional[str] = _UNSET,
                summary: Optional[str] = _UNSET, text: Optional[str] = _UNSET,
                start_page: Optional[int] = _UNSET, end_page: Optional[int] = _UNSET,
                line_num: Optional[int] = _UNSET, extra: Optional[Mapping[str, Any]] = _UNSET,
                extra_json: Optional[str] = _UNSET, transaction_id: str = "",
                effective_time: Optional[TimeLike] = None, message: str = "",
                timeout: Optional[float] = None) -> Call[WriteResult]:
    """Update only the content fields passed as keywords (the field mask is built from them).
    Passing ``None`` clears a field (page numbers / line_num become unknown, strings become
    ""). ``extra`` (a dict) or ``extra_json`` (a string) replaces the extra keys.
    Raises NotFound, InvalidArgument (no field given)."""
    _nonempty("doc_id", doc_id)
    _nonempty("node_id", node_id)
    if extra is not _UNSET and extra_json is not _UNSET:
        raise InvalidArgument("update_node: give extra or extra_json, not both")
    if extra is not _UNSET:
        extra_json = json.dumps(dict(extra), ensure_ascii=False, separators=(",", ":")) \
            if extra else ""
    values = {"title": title, "summary": summary, "text": text, "start_page": start_page,
              "end_page": end_page, "line_num": line_num, "extra_json": extra_json}
    paths = [name for name in UPDATABLE_FIELDS if values[name] is not _UNSET]
    if not paths:
        raise InvalidArgument("update_node: give at least one field to update "
                              f"({', '.join(UPDATABLE_FIELDS)}, extra)")
    node = pb.NodeInput()
    for name in paths:
        value = values[name]
        if value is None:
            continue  # in the mask but unset: cleared
        if name == "extra_json" and value:
            try:
                if not isinstance(value, str) or not isinstance(json.loads(value), dict):
                    raise ValueError("not an object")
            except ValueError:
                raise InvalidArgument("extra_json: must be a JSON object") from None
        setattr(node, name, value)
    req = pb.UpdateNodeRequest(doc_id=doc_id, node_id=node_id, node=node,
                               update_mask=field_mask_pb2.FieldMask(paths=paths))
    _set_write_common(req, transaction_id, effective_time, message)
    return Call("UpdateNode", req,
                lambda r: WriteResult(version=_version(r.version), node=_view(r.node)),
                idempotent=False, timeout=timeout)


def move_node(doc_id: str, node_id: str, new_parent_id: str, *, position: Optional[int] = None,
              transaction_id: str = "", effective_time: Optional[TimeLike] = None,
              message: str = "", timeout: Optional[float] = None) -> Call[WriteResult]:
    """Move a node and its subtree under ``new_parent_id`` ("" = top level) at ``position``
    (None = append). Raises FailedPrecondition when moving under itself or a descendant."""
    _nonempty("doc_id", doc_id)
    _nonempty("node_id", node_id)
    req = pb.MoveNodeRequest(doc_id=doc_id, node_id=node_id, new_parent_id=new_parent_id)
    if position is not None:
        if position < 0:
            raise InvalidArgument("position: must be >= 0")
        req.position = position
    _set_write_common(req, transaction_id, effective_time, message)
    return Call("MoveNode", req,
                lambda r: WriteResult(version=_version(r.version), node=_view(r.node)),
                idempotent=False, timeout=timeout)


def delete_node(doc_id: str, node_id: str, *, transaction_id: str = "",
                effective_time: Optional[TimeLike] = None, message: str = "",
                timeout: Optional[float] = None) -> Call[WriteResult]:
    """Delete a node and its subtree; ``result.count`` = nodes deleted."""
    _nonempty("doc_id", doc_id)
    _nonempty("node_id", node_id)
    req = pb.DeleteNodeRequest(doc_id=doc_id, node_id=node_id)
    _set_write_common(req, transaction_id, effective_time, message)
    return Call("DeleteNode", req,
                lambda r: WriteResult(version=_version(r.version), count=r.nodes_deleted),
                idempotent=False, timeout=timeout)


# ---------------------------------------------------------------------------------------
# search and history
# ---------------------------------------------------------------------------------------


def search_nodes(query: str, *, doc_id: str = "", limit: int = 0, page_token: str = "",
                 timeout: Optional[float] = None) -> Call[Page[SearchHit]]:
    """Nodes whose title/summary/text contain every word of ``query`` (case-insensitive,
    whole words), best first (limit default 20, max 1000). ``doc_id`` "" = all documents."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidArgument("query: must contain at least one word")
    req = pb.SearchNodesRequest(query=query, doc_id=doc_id, limit=limit, page_token=page_token)
    return Call("SearchNodes", req,
                lambda r: Page([SearchHit(h.doc_id, h.node_id, h.title, h.score, h.snippet)
                                for h in r.hits], r.next_page_token),
                idempotent=True, timeout=timeout)


def get_version_as_of(doc_id: str, time: TimeLike, *, axis: str = "commit",
                      timeout: Optional[float] = None) -> Call[Version]:
    """The version in force at ``time`` on the "commit" or "effective" axis.
    Raises NotFound when no version exists at or before that time."""
    _nonempty("doc_id", doc_id)
    req = pb.GetVersionAsOfRequest(doc_id=doc_id, as_of=_as_of(time, axis))
    return Call("GetVersionAsOf", req, lambda r: _version(r.version), idempotent=True,
                timeout=timeout)


def diff_versions(doc_id: str, from_version: int, to_version: int = 0, *,
                  timeout: Optional[float] = None) -> Call[Diff]:
    """Node-level differences between two versions (``to_version`` 0 = latest)."""
    _nonempty("doc_id", doc_id)
    req = pb.DiffVersionsRequest(doc_id=doc_id, from_version=from_version, to_version=to_version)
    return Call("DiffVersions", req,
                lambda r: Diff(
                    from_version=r.from_version, to_version=r.to_version,
                    added=list(r.added), removed=list(r.removed),
                    changed=[NodeChange(c.node_id, list(c.fields)) for c in r.changed],
                    moved=[NodeMove(m.node_id, m.old_parent_id, m.old_position,
                                    m.new_parent_id, m.new_position) for m in r.moved],
                    committed_by=list(r.committed_by)),
                idempotent=True, timeout=timeout)


# ---------------------------------------------------------------------------------------
# cross references
# ---------------------------------------------------------------------------------------


def add_cross_reference(from_doc_id: str, from_node_id: str, to_doc_id: str, to_node_id: str,
                        *, kind: str = "", label: str = "", to_namespace: str = "",
                        timeout: Optional[float] = None) -> Call[CrossReference]:
    """Add a directed reference between two nodes. ``to_namespace``: the target document's
    namespace ("" = the client's; another one needs a principal allowed both, else
    PermissionDenied). Raises NotFound (an endpoint), AlreadyExists (same from, to and
    kind)."""
    for name, value in (("from_doc_id", from_doc_id), ("from_node_id", from_node_id),
                        ("to_doc_id", to_doc_id), ("to_node_id", to_node_id)):
        _nonempty(name, value)
    ref = CrossReference(from_doc_id, from_node_id, to_doc_id, to_node_id, kind, label,
                         to_namespace=to_namespace)
    req = pb.AddCrossReferenceRequest(reference=ref.to_proto())
    return Call("AddCrossReference", req, lambda r: CrossReference.from_proto(r.reference),
                idempotent=False, timeout=timeout)


def remove_cross_reference(from_doc_id: str, from_node_id: str, to_doc_id: str,
                           to_node_id: str, *, kind: str = "", to_namespace: str = "",
                           timeout: Optional[float] = None) -> Call[None]:
    """Remove the reference identified by from, to (in ``to_namespace``, "" = the client's)
    and kind. Raises NotFound."""
    req = pb.RemoveCrossReferenceRequest(from_doc_id=from_doc_id, from_node_id=from_node_id,
                                         to_doc_id=to_doc_id, to_node_id=to_node_id, kind=kind,
                                         to_namespace=to_namespace)
    return Call("RemoveCrossReference", req, lambda r: None, idempotent=False, timeout=timeout)


def get_cross_references(doc_id: str, node_id: str = "", *, direction: str = "outgoing",
                         max_hops: int = 1, kind: Optional[str] = None, page_size: int = 0,
                         page_token: str = "",
                         timeout: Optional[float] = None) -> Call[Page[CrossReference]]:
    """References reachable from a node ("" = any node of the document) within ``max_hops``
    (1..8); ``direction`` "outgoing", "incoming" or "both"; each result has ``hops``."""
    _nonempty("doc_id", doc_id)
    try:
        dir_value = _DIRECTIONS[direction]
    except KeyError:
        raise InvalidArgument("direction: must be 'outgoing', 'incoming' or 'both', "
                              f"got {direction!r}") from None
    if not 0 <= max_hops <= 8:
        raise InvalidArgument("max_hops: must be between 1 and 8")
    req = pb.GetCrossReferencesRequest(doc_id=doc_id, node_id=node_id, direction=dir_value,
                                       max_hops=max_hops, page_size=page_size,
                                       page_token=page_token)
    if kind is not None:
        req.kind = kind
    return Call("GetCrossReferences", req,
                lambda r: Page([CrossReference.from_proto(h.reference, h.hops)
                                for h in r.references], r.next_page_token),
                idempotent=True, timeout=timeout)


# ---------------------------------------------------------------------------------------
# tool results
# ---------------------------------------------------------------------------------------


def _json_arg(name: str, value: Any, raw: Optional[str]) -> str:
    if raw is not None:
        if value is not None:
            raise InvalidArgument(f"{name}: give the value or {name}_json, not both")
        return _json_text(f"{name}_json", raw)
    return _json_value(f"{name}_json", value)


def store_tool_result(tool_name: str, args: Any = None, result: Any = None, *,
                      args_json: Optional[str] = None, result_json: Optional[str] = None,
                      ttl_seconds: int = 0, depends_on: Iterable[DocRefLike] = (),
                      timeout: Optional[float] = None) -> Call[StoredToolResult]:
    """Cache a tool result. ``args``/``result`` are Python values serialized to JSON (a str
    becomes a JSON string); pass ready JSON text as ``args_json``/``result_json`` instead.
    ``ttl_seconds`` 0 = 3600. ``depends_on``: doc ids, (doc_id, version) pairs or DocRefs;
    version 0 = current. The entry goes stale when one of them gets a new version."""
    _nonempty("tool_name", tool_name)
    if ttl_seconds < 0:
        raise InvalidArgument("ttl_seconds: must be >= 0")
    req = pb.StoreToolResultRequest(tool_name=tool_name,
                                    args_json=_json_arg("args", args, args_json),
                                    result_json=_json_arg("result", result, result_json),
                                    ttl_seconds=ttl_seconds)
    for ref in depends_on:
        d = DocRef.coerce(ref)
        req.depends_on.add(doc_id=d.doc_id, version=d.version)
    return Call("StoreToolResult", req,
                lambda r: StoredToolResult(r.args_json, r.stored_at, r.expires_at,
                                           _docref_list(r.depends_on)),
                idempotent=False, timeout=timeout)


def get_tool_result(tool_name: str, args: Any = None, *, args_json: Optional[str] = None,
                    timeout: Optional[float] = None) -> Call[ToolResult]:
    """Look up a cached tool result (``args`` as a Python value, or ``args_json`` text);
    a miss returns ``hit=False`` with ``miss_reason``."""
    _nonempty("tool_name", tool_name)
    req = pb.GetToolResultRequest(tool_name=tool_name,
                                  args_json=_json_arg("args", args, args_json))
    return Call("GetToolResult", req,
                lambda r: ToolResult(hit=r.hit, result_json=r.result_json,
                                     stored_at=r.stored_at, expires_at=r.expires_at,
                                     miss_reason=None if r.hit else _MISS.get(r.miss_reason,
                                                                              "not_found"),
                                     depends_on=_docref_list(r.depends_on)),
                idempotent=True, timeout=timeout)


# ---------------------------------------------------------------------------------------
# transactions
# ---------------------------------------------------------------------------------------


def begin_transaction(doc_id: str, *, timeout_ms: Optional[int] = None,
                      timeout: Optional[float] = None) -> Call[TransactionInfo]:
    """Open a transaction on one document (idle timeout ``timeout_ms``, default 30000).
    Prefer the ``transaction()`` context manager."""
    _nonempty("doc_id", doc_id)
    req = pb.BeginTransactionRequest(doc_id=doc_id)
    if timeout_ms is not None:
        req.timeout_ms = timeout_ms
    return Call("BeginTransaction", req,
                lambda r: TransactionInfo(r.transaction_id, doc_id, r.snapshot_version,
                                          r.expires_at),
                idempotent=False, timeout=timeout)


def commit_transaction(transaction_id: str, *, effective_time: Optional[TimeLike] = None,
                       message: str = "", timeout: Optional[float] = None) -> Call[Version]:
    """Commit; returns the new Version. Raises Conflict (ABORTED) on a conflict."""
    _nonempty("transaction_id", transaction_id)
    req = pb.CommitTransactionRequest(transaction_id=transaction_id, message=message)
    if effective_time is not None:
        req.effective_time = to_micros(effective_time, field_name="effective_time")
    return Call("CommitTransaction", req, lambda r: _version(r.version), idempotent=False,
                timeout=timeout)


def rollback_transaction(transaction_id: str, *,
                         timeout: Optional[float] = None) -> Call[None]:
    """Discard a transaction's writes. Raises NotFound when unknown or finished."""
    _nonempty("transaction_id", transaction_id)
    req = pb.RollbackTransactionRequest(transaction_id=transaction_id)
    return Call("RollbackTransaction", req, lambda r: None, idempotent=False, timeout=timeout)


# ---------------------------------------------------------------------------------------
# operations
# ---------------------------------------------------------------------------------------


def health(*, timeout: Optional[float] = None) -> Call[Health]:
    """Overall and per-shard health."""
    return Call("Health", pb.HealthRequest(), Health.from_proto, idempotent=True, timeout=timeout)


def stats(*, timeout: Optional[float] = None) -> Call[Stats]:
    """Server counters, total and per shard."""
    return Call("Stats", pb.StatsRequest(), Stats.from_proto, idempotent=True, timeout=timeout)


# ---------------------------------------------------------------------------------------
# change feed (a server-streaming call: a request, not a Call; see treestore._watch)
# ---------------------------------------------------------------------------------------


def watch_request(doc_ids: Optional[Iterable[str]] = None, *, prefix: str = "",
                  resume_token: Optional[bytes] = None,
                  from_versions: Optional[Mapping[str, int]] = None,
                  include_contents: bool = False) -> pb.WatchRequest:
    """The WatchRequest of ``watch()``: ``doc_ids`` (1..1000 ids) or ``prefix`` ("" with no
    ids = every document); start after ``resume_token``, after ``from_versions``
    (doc_id -> last version seen), or now (neither)."""
    ids = [] if doc_ids is None else list(doc_ids)
    if isinstance(doc_ids, str):
        raise InvalidArgument("doc_ids: expected a list of ids, got a str")
    for doc_id in ids:
        _nonempty("doc_ids[]", doc_id)
    if ids and prefix:
        raise InvalidArgument("watch: give doc_ids or prefix, not both")
    if resume_token is not None and from_versions is not None:
        raise InvalidArgument("watch: give resume_token or from_versions, not both")
    req = pb.WatchRequest(doc_ids=ids, prefix=prefix, include_contents=include_contents)
    if resume_token is not None:
        if not isinstance(resume_token, bytes) or not resume_token:
            raise InvalidArgument("resume_token: expected the non-empty bytes of an event's "
                                  "resume_token")
        req.resume_token = resume_token
    elif from_versions is not None:
        versions = dict(from_versions)
        for doc_id, version in versions.items():
            _nonempty("from_versions key", doc_id)
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise InvalidArgument(f"from_versions[{doc_id!r}]: must be an int >= 0")
        req.from_versions.SetInParent()  # an empty map still selects this start
        req.from_versions.versions.update(versions)
    return req

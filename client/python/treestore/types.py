"""Typed results of the TreeStore client.

Results are dataclasses, except :class:`Node` (see ``_node.py``): an immutable view that reads
its fields from the response message when they are accessed.

Times are ``int`` Unix microseconds, as on the wire; every time field has a ``*_dt``
property returning an aware :class:`datetime.datetime` in UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Generic, Iterator, List, Mapping, Optional, Sequence, TypeVar, Union

from ._node import Node, NodeList, _view
from ._proto import treestore_pb2 as pb
from .errors import InvalidArgument

__all__ = [
    "TimeLike",
    "to_micros",
    "from_micros",
    "Document",
    "Node",
    "NodeList",
    "NodeInput",
    "Version",
    "WriteResult",
    "CrossReference",
    "DocRef",
    "ToolResult",
    "StoredToolResult",
    "SearchHit",
    "NodeChange",
    "NodeMove",
    "Diff",
    "LogCorruption",
    "ShardHealth",
    "Health",
    "ShardStats",
    "Stats",
    "Page",
    "TransactionInfo",
    "VersionEvent",
    "DeleteEvent",
    "CaughtUp",
    "Lagged",
    "WatchEvent",
    "watch_event_from_proto",
]

T = TypeVar("T")

#: A point in time: ``int`` Unix microseconds, a ``datetime`` (naive = UTC), a ``date``
#: (midnight UTC) or an ISO 8601 string (``"2024-03-01"``, ``"2024-03-01T12:00:00Z"``).
TimeLike = Union[int, datetime, date, str]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_micros(value: TimeLike, *, field_name: str = "time") -> int:
    """Convert a :data:`TimeLike` to Unix microseconds (raises :class:`InvalidArgument`)."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{field_name}: expected a time, got a bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                value = date.fromisoformat(text)
            else:
                value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InvalidArgument(
                f"{field_name}: {value!r} is not an ISO 8601 date or date-time "
                "(e.g. 2024-03-01 or 2024-03-01T12:00:00Z)") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if isinstance(value, date):
        return to_micros(datetime(value.year, value.month, value.day, tzinfo=timezone.utc))
    raise InvalidArgument(f"{field_name}: expected int microseconds, datetime, date or ISO "
                          f"string, got {type(value).__name__}")


def from_micros(micros: int) -> datetime:
    """Unix microseconds to an aware UTC datetime."""
    from datetime import timedelta

    return _EPOCH + timedelta(microseconds=micros)


# ---------------------------------------------------------------------------------------
# Documents and nodes
# ---------------------------------------------------------------------------------------


@dataclass
class Document:
    """A document's fields at one version."""

    doc_id: str
    name: str = ""
    description: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: int = 0
    updated_at: int = 0
    version: int = 0
    node_count: int = 0

    @property
    def created_dt(self) -> datetime:
        return from_micros(self.created_at)

    @property
    def updated_dt(self) -> datetime:
        return from_micros(self.updated_at)

    @classmethod
    def from_proto(cls, m: pb.Document) -> "Document":
        return cls(doc_id=m.doc_id, name=m.name, description=m.description,
                   metadata=dict(m.metadata), created_at=m.created_at, updated_at=m.updated_at,
                   version=m.version, node_count=m.node_count)


@dataclass
class NodeInput:
    """A node to write, with nested children.

    ``extra`` is a dict serialized to ``extra_json`` (or pass ``extra_json`` directly).
    """

    node_id: str
    title: str = ""
    summary: str = ""
    text: str = ""
    start_page: Optional[int] = None
    end_page: Optional[int] = None
    line_num: Optional[int] = None
    extra: Optional[Mapping[str, Any]] = None
    extra_json: str = ""
    children: List["NodeInput"] = field(default_factory=list)

    def to_proto(self) -> pb.NodeInput:
        extra_json = self.extra_json
        if self.extra is not None:
            if extra_json:
                raise InvalidArgument(f"node {self.node_id!r}: give extra or extra_json, not both")
            extra_json = json.dumps(dict(self.extra), ensure_ascii=False, separators=(",", ":")) \
                if self.extra else ""
        m = pb.NodeInput(node_id=self.node_id, title=self.title, summary=self.summary,
                         text=self.text, extra_json=extra_json)
        for name in ("start_page", "end_page", "line_num"):
            value = getattr(self, name)
            if value is not None:
                setattr(m, name, value)
        m.children.extend(c.to_proto() for c in self.children)
        return m

    @classmethod
    def coerce(cls, value: "NodeLike") -> "NodeInput":
        """Accept a NodeInput, a Node (read result) or a mapping of NodeInput fields."""
        if isinstance(value, NodeInput):
            return value
        if isinstance(value, Node):
            return cls(node_id=value.node_id, title=value.title, summary=value.summary,
                       text=value.text, start_page=value.start_page, end_page=value.end_page,
                       line_num=value.line_num, extra_json=value.extra_json,
                       children=[cls.coerce(c) for c in value.children])
        if isinstance(value, Mapping):
            data = dict(value)
            children = [cls.coerce(c) for c in data.pop("children", [])]
            allowed = {"node_id", "title", "summary", "text", "start_page", "end_page",
                       "line_num", "extra", "extra_json"}
            unknown = set(data) - allowed
            if unknown:
                raise InvalidArgument(f"node: unknown field(s) {sorted(unknown)}; allowed: "
                                      f"{sorted(allowed | {'children'})}")
            if "node_id" not in data:
                raise InvalidArgument("node.node_id: required")
            return cls(children=children, **data)
        raise InvalidArgument(f"node: expected NodeInput, Node or dict, got {type(value).__name__}")


NodeLike = Union[NodeInput, Node, Mapping[str, Any]]


@dataclass
class Version:
    """One committed version (all zero for a write inside a transaction).

    ``committed_by`` names the principal whose request committed it ("anonymous" on a server
    without authentication, "" for versions written before the server recorded it).
    """

    version: int = 0
    commit_time: int = 0
    effective_time: int = 0
    message: str = ""
    nodes_changed: int = 0
    committed_by: str = ""

    @property
    def commit_dt(self) -> datetime:
        return from_micros(self.commit_time)

    @property
    def effective_dt(self) -> datetime:
        return from_micros(self.effective_time)

    @property
    def committed(self) -> bool:
        """False for the placeholder returned by writes inside a transaction."""
        return self.version != 0

    @classmethod
    def from_proto(cls, m: pb.Version) -> "Version":
        return cls(version=m.version, commit_time=m.commit_time, effective_time=m.effective_time,
                   message=m.message, nodes_changed=m.nodes_changed,
                   committed_by=m.committed_by)


@dataclass
class WriteResult:
    """Result of a write: the new version plus what the write returned.

    ``document`` is set by put_document; ``node`` by insert/update/move; ``count`` is the
    number of nodes inserted (insert_node) or deleted (delete_node).
    """

    version: Version
    document: Optional[Document] = None
    node: Optional[Node] = None
    count: int = 0


@dataclass
class Page(Generic[T]):
    """One page of a list RPC; iterate it directly, or pass next_page_token back."""

    items: List[T]
    next_page_token: str = ""

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        return self.items[index]


@dataclass
class TransactionInfo:
    """What BeginTransaction returned."""

    transaction_id: str
    doc_id: str
    snapshot_version: int
    expires_at: int


# ---------------------------------------------------------------------------------------
# Cross references, search, diff, tool results
# ---------------------------------------------------------------------------------------


@dataclass
class CrossReference:
    """A directed reference between two nodes. ``hops`` is set by get_cross_references."""

    from_doc_id: str
    from_node_id: str
    to_doc_id: str
    to_node_id: str
    kind: str = ""
    label: str = ""
    created_at: int = 0
    hops: int = 0
    #: The namespaces of the two documents (as the server answers; "" in a request = the
    #: client's namespace).
    from_namespace: str = ""
    to_namespace: str = ""

    def to_proto(self) -> pb.CrossReference:
        return pb.CrossReference(from_doc_id=self.from_doc_id, from_node_id=self.from_node_id,
                                 to_doc_id=self.to_doc_id, to_node_id=self.to_node_id,
                                 kind=self.kind, label=self.label,
                                 from_namespace=self.from_namespace,
                                 to_namespace=self.to_namespace)

    @classmethod
    def from_proto(cls, m: pb.CrossReference, hops: int = 0) -> "CrossReference":
        return cls(from_doc_id=m.from_doc_id, from_node_id=m.from_node_id, to_doc_id=m.to_doc_id,
                   to_node_id=m.to_node_id, kind=m.kind, label=m.label,
                   created_at=m.created_at, hops=hops, from_namespace=m.from_namespace,
                   to_namespace=m.to_namespace)


@dataclass
class DocRef:
    """A document version a cached tool result depends on (version 0 = current)."""

    doc_id: str
    version: int = 0

    @classmethod
    def coerce(cls, value: Union["DocRef", str, Sequence[Any], Mapping[str, Any]]) -> "DocRef":
        if isinstance(value, DocRef):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, Mapping):
            return cls(str(value["doc_id"]), int(value.get("version", 0)))
        try:
            doc_id, version = tuple(value)
        except (TypeError, ValueError):
            raise InvalidArgument(f"depends_on: expected a doc id, (doc_id, version) or DocRef, "
                                  f"got {value!r}") from None
        return cls(str(doc_id), int(version))


@dataclass
class StoredToolResult:
    """Result of store_tool_result."""

    args_json: str
    stored_at: int
    expires_at: int
    depends_on: List[DocRef] = field(default_factory=list)


@dataclass
class ToolResult:
    """Result of get_tool_result. ``miss_reason`` is None on a hit, else
    ``"not_found"``, ``"expired"`` or ``"stale"``."""

    hit: bool
    result_json: str = ""
    stored_at: int = 0
    expires_at: int = 0
    miss_reason: Optional[str] = None
    depends_on: List[DocRef] = field(default_factory=list)

    @property
    def result(self) -> Any:
        """``result_json`` parsed (None on a miss)."""
        return json.loads(self.result_json) if self.hit and self.result_json else None


@dataclass
class SearchHit:
    """One search result."""

    doc_id: str
    node_id: str
    title: str
    score: float
    snippet: str


@dataclass
class NodeChange:
    """A node whose content fields changed between two versions."""

    node_id: str
    fields: List[str]


@dataclass
class NodeMove:
    """A node whose parent or position changed between two versions."""

    node_id: str
    old_parent_id: str
    old_position: int
    new_parent_id: str
    new_position: int


@dataclass
class Diff:
    """Differences between two versions of a document.

    ``committed_by``: the principals that committed the versions after the older side up to the
    newer one (who made these changes), distinct and sorted.
    """

    from_version: int
    to_version: int
    added: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    changed: List[NodeChange] = field(default_factory=list)
    moved: List[NodeMove] = field(default_factory=list)
    committed_by: List[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.moved)


# ---------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    try:
        name = enum.Name(value)
    except ValueError:
        return f"unknown_{value}"
    return name[len(prefix):].lower() if name.startswith(prefix) else name.lower()


@dataclass
class LogCorruption:
    """Where a shard's log is corrupt (found at recovery; the shard is then poisoned)."""

    file: str
    offset: int
    reason: str = ""


@dataclass
class ShardHealth:
    """Health of one shard; ``state`` is "recovering", "serving", "poisoned" or
    "unspecified". ``corruption`` is set when the shard is poisoned by a corrupt log."""

    shard_id: int
    state: str
    wal_durable_lsn: int
    wal_last_lsn: int
    detail: str = ""
    corruption: Optional[LogCorruption] = None


@dataclass
class Health:
    """Overall health; ``status`` is "serving", "degraded", "not_serving" or "unspecified"."""

    status: str
    shards: List[ShardHealth] = field(default_factory=list)

    @property
    def serving(self) -> bool:
        return self.status == "serving"

    @classmethod
    def from_proto(cls, m: pb.HealthResponse) -> "Health":
        return cls(
            status=_enum_name(pb.HealthStatus, m.status, "HEALTH_STATUS_"),
            shards=[ShardHealth(shard_id=s.shard_id,
                                state=_enum_name(pb.ShardState, s.state, "SHARD_STATE_"),
                                wal_durable_lsn=s.wal_durable_lsn, wal_last_lsn=s.wal_last_lsn,
                                detail=s.detail,
                                corruption=LogCorruption(file=s.corruption.file,
                                                         offset=s.corruption.offset,
                                                         reason=s.corruption.reason)
                                if s.HasField("corruption") else None)
                        for s in m.shards])


@dataclass
class ShardStats:
    """Counters of one shard."""

    shard_id: int
    documents: int
    nodes: int
    versions: int
    wal_bytes: int
    cache_hits: int
    cache_misses: int
    active_transactions: int
    state: str
    #: Empty when the shard answered; otherwise why it did not (its counters are then 0).
    unavailable: str = ""


@dataclass
class Stats:
    """Server counters, total and per shard. ``partial`` is True when some shard did not
    answer (see its ``unavailable``): the totals then count only the shards that did."""

    documents: int
    nodes: int
    versions: int
    wal_bytes: int
    cache_hits: int
    cache_misses: int
    cache_hit_rate: float
    active_transactions: int
    uptime_seconds: int
    shards: List[ShardStats] = field(default_factory=list)
    partial: bool = False

    @classmethod
    def from_proto(cls, m: pb.StatsResponse) -> "Stats":
        return cls(
            documents=m.documents, nodes=m.nodes, versions=m.versions, wal_bytes=m.wal_bytes,
            cache_hits=m.cache_hits, cache_misses=m.cache_misses,
            cache_hit_rate=m.cache_hit_rate, active_transactions=m.active_transactions,
            uptime_seconds=m.uptime_seconds, partial=m.partial,
            shards=[ShardStats(shard_id=s.shard_id, documents=s.documents, nodes=s.nodes,
                               versions=s.versions, wal_bytes=s.wal_bytes,
                               cache_hits=s.cache_hits, cache_misses=s.cache_misses,
                               active_transactions=s.active_transactions,
                               state=_enum_name(pb.ShardState, s.state, "SHARD_STATE_"),
                               unavailable=s.unavailable)
                    for s in m.shards])


# ---------------------------------------------------------------------------------------
# Watch events
# ---------------------------------------------------------------------------------------


@dataclass
class VersionEvent:
    """A committed, durable version of a document, as a watch delivers it.

    ``added``/``removed``/``updated``/``moved`` are sorted node ids; ``nodes`` holds the
    nodes of added, updated and moved as of this version (text included, children not
    filled) when the watch asked for ``include_contents`` (empty with
    ``contents_unavailable``: the document was deleted since). ``created``: the document's
    first version, or its first after a deletion."""

    doc_id: str
    version: Version
    created: bool = False
    added: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    updated: List[str] = field(default_factory=list)
    moved: List[str] = field(default_factory=list)
    header_changed: bool = False
    nodes: List[Node] = field(default_factory=list)
    contents_unavailable: bool = False
    #: pass to ``watch(resume_token=...)`` to continue just after this event
    resume_token: bytes = b""


@dataclass
class DeleteEvent:
    """A document was deleted (durably). Created again, it continues at
    ``last_version + 1``."""

    doc_id: str
    last_version: int
    deleted_at: int = 0
    resume_token: bytes = b""

    @property
    def deleted_dt(self) -> datetime:
        return from_micros(self.deleted_at)


@dataclass
class CaughtUp:
    """Every selected change durable when the stream started has been delivered; what
    follows is live. Once per stream (first, for a stream that starts now)."""

    resume_token: bytes = b""


@dataclass
class Lagged:
    """The stream fell behind. ``changes_lost``: changes were discarded by the server's
    retention before the stream read them (state derived from the stream must be re-read);
    otherwise informational. ``behind``: an upper bound of the log records still to read on
    the shard where it fell behind."""

    changes_lost: bool
    behind: int = 0
    resume_token: bytes = b""


#: One item of a watch stream.
WatchEvent = Union[VersionEvent, DeleteEvent, CaughtUp, Lagged]


def watch_event_from_proto(m: pb.WatchEvent) -> WatchEvent:
    """The typed event of a ``WatchEvent`` message."""
    kind = m.WhichOneof("event")
    token = m.resume_token
    if kind == "version":
        v = m.version
        return VersionEvent(doc_id=v.doc_id, version=Version.from_proto(v.version),
                            created=v.created, added=list(v.added), removed=list(v.removed),
                            updated=list(v.updated), moved=list(v.moved),
                            header_changed=v.header_changed,
                            nodes=list(map(_view, v.nodes)),
                            contents_unavailable=v.contents_unavailable, resume_token=token)
    if kind == "deleted":
        d = m.deleted
        return DeleteEvent(doc_id=d.doc_id, last_version=d.last_version,
                           deleted_at=d.deleted_at, resume_token=token)
    if kind == "caught_up":
        return CaughtUp(resume_token=token)
    if kind == "lagged":
        return Lagged(changes_lost=m.lagged.changes_lost, behind=m.lagged.behind,
                      resume_token=token)
    raise InvalidArgument(f"watch: unknown event kind {kind!r} (a newer server? upgrade the "
                          "client)")

"""Reading the PostgreSQL source: documents with their change times, whole histories of a
batch of documents, and their reconstruction into versions; plus the as-of queries that
--verify compares against (plain SQL on the source, independent of the reconstruction).

Times are int Unix microseconds throughout (computed in SQL, so 'infinity' reads as None).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

from psycopg import sql

from .config import MigrationConfig, Section


class SourceError(Exception):
    """Source data that cannot become a TreeStore document (named doc, version, node)."""


def us(expr: sql.Composable) -> sql.Composable:
    """A timestamp(tz)/date expression as Unix microseconds; NULL for +-infinity."""
    return sql.SQL("CASE WHEN isfinite({e}) THEN (extract(epoch FROM {e}) * 1000000)::bigint "
                   "END").format(e=expr)


@dataclass(frozen=True)
class NodeRow:
    """One node row (a node during [valid_from, valid_to))."""

    node_id: str
    parent_id: Optional[str]
    position: int
    title: str
    summary: str
    text: str
    start_page: Optional[int]
    end_page: Optional[int]
    line_num: Optional[int]
    extras: str  # JSON object text; "" = none
    valid_from: int
    valid_to: Optional[int]  # None = still valid


@dataclass(frozen=True)
class DocRow:
    name: str
    description: str
    metadata: dict[str, str]
    valid_from: int
    valid_to: Optional[int]


@dataclass(frozen=True)
class SourceDoc:
    """A document as listed: when it last changed and how many node rows it has."""

    doc_id: str
    last_change: int
    node_rows: int


@dataclass
class DocVersion:
    """The state of a document at one version (the instant ``at``)."""

    at: int
    effective: int
    message: str
    doc: DocRow
    nodes: list[NodeRow]


@dataclass
class DocHistory:
    doc_id: str
    docs: list[DocRow]
    nodes: list[NodeRow]
    versions: dict[int, tuple[int, str]]  # valid_from -> (effective_at, message)


def metadata_strings(value: Any) -> dict[str, str]:
    """Source metadata (a JSON object) as TreeStore metadata: strings stay, other values
    become their JSON text."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SourceError(f"metadata must be a JSON object, got {json.dumps(value)[:60]}")
    return {str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for k, v in value.items()}


def extras_text(value: Optional[str]) -> str:
    """Source extras (jsonb text) as extra_json: "" for none or {}; objects only."""
    if value is None:
        return ""
    text = value.strip()
    if text in ("", "{}", "null"):
        return ""
    if not text.startswith("{"):
        raise SourceError(f"extras must be a JSON object, got {text[:60]}")
    return text


# ---------------------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------------------

def _union_history(s: Section, select: sql.Composable, where: sql.Composable,
                   current_valid_to: bool = True) -> sql.Composable:
    """``select`` over the current table, UNION ALL over the history table if any."""
    parts = [sql.SQL("SELECT {} FROM {} WHERE {}").format(select, s.table(), where)]
    if s.has_history:
        parts.append(sql.SQL("SELECT {} FROM {} WHERE {}").format(select, s.table(True), where))
    return sql.SQL(" UNION ALL ").join(parts)


def _vt(s: Section) -> sql.Composable:
    return us(s.col("valid_to")) if s.names.get("valid_to") else sql.SQL("NULL::bigint")


def list_documents(conn: Any, cfg: MigrationConfig,
                   only: Optional[Sequence[str]] = None) -> list[SourceDoc]:
    """Documents that exist now (a current documents row), ordered by id, with the time of
    their last change and their number of node rows (current and history)."""
    d, n, v = cfg["documents"], cfg["nodes"], cfg["versions"]
    parts = []
    for s, count in ((d, False), (n, True)):
        tables = [(s.table(), False)] + ([(s.table(True), True)] if s.has_history else [])
        for table, hist in tables:
            last = (sql.SQL("greatest(max({}), max({}))").format(us(s.col("valid_from")),
                                                                  _vt(s)) if hist
                    else sql.SQL("max({})").format(us(s.col("valid_from"))))
            parts.append(sql.SQL("SELECT {doc} AS doc_id, {last} AS t, {n} AS n FROM {table} "
                                 "GROUP BY 1").format(
                doc=s.col("doc_id"), last=last, table=table,
                n=sql.SQL("count(*)") if count else sql.SQL("0")))
    if v.present:
        parts.append(sql.SQL("SELECT {doc}, max({t}), 0 FROM {table} GROUP BY 1").format(
            doc=v.col("doc_id"), t=us(v.col("valid_from")), table=v.table()))
    filt = sql.SQL("")
    params: list[Any] = []
    if only is not None:
        filt = sql.SQL(" AND x.doc_id = ANY(%s)")
        params.append(list(only))
    q = sql.SQL("SELECT x.doc_id, max(x.t), sum(x.n)::bigint FROM ({parts}) x "
                "WHERE x.doc_id IN (SELECT {doc} FROM {docs}){filt} "
                "GROUP BY x.doc_id ORDER BY x.doc_id").format(
        parts=sql.SQL(" UNION ALL ").join(parts), doc=d.col("doc_id"), docs=d.table(),
        filt=filt)
    return [SourceDoc(r[0], int(r[1]), int(r[2])) for r in conn.execute(q, params)]


def _node_select(n: Section) -> sql.Composable:
    return sql.SQL(", ").join([
        n.col("doc_id"), n.col("node_id"), n.col("parent_id"), n.col("position"),
        n.col("title"), n.col("summary"), n.col("text"), n.col("start_page"),
        n.col("end_page"), n.col("line_num"), sql.SQL("({})::text").format(n.col("extras")),
        us(n.col("valid_from")), _vt(n)])


def _node_row(r: Sequence[Any]) -> NodeRow:
    return NodeRow(r[1], r[2], int(r[3]), r[4] or "", r[5] or "", r[6] or "", r[7], r[8], r[9],
                   r[10], int(r[11]), None if r[12] is None else int(r[12]))


def load_histories(conn: Any, cfg: MigrationConfig,
                   doc_ids: Sequence[str]) -> dict[str, DocHistory]:
    """Every row (current and history) of a batch of documents."""
    d, n, v = cfg["documents"], cfg["nodes"], cfg["versions"]
    out = {doc: DocHistory(doc, [], [], {}) for doc in doc_ids}
    ids = list(doc_ids)
    dsel = sql.SQL(", ").join([d.col("doc_id"), d.col("name"), d.col("description"),
                               d.col("metadata"), us(d.col("valid_from")), _vt(d)])
    for r in conn.execute(_union_history(d, dsel, sql.SQL("{} = ANY(%s)").format(
            d.col("doc_id"))), [ids] * (2 if d.has_history else 1)):
        try:
            meta = metadata_strings(r[3])
        except SourceError as exc:
            raise SourceError(f"document {r[0]!r}: {exc}") from None
        out[r[0]].docs.append(DocRow(r[1] or "", r[2] or "", meta, int(r[4]),
                                     None if r[5] is None else int(r[5])))
    with conn.cursor() as cur:
        cur.execute(_union_history(n, _node_select(n), sql.SQL("{} = ANY(%s)").format(
            n.col("doc_id"))), [ids] * (2 if n.has_history else 1))
        while True:
            rows = cur.fetchmany(20000)
            if not rows:
                break
            for r in rows:
                out[r[0]].nodes.append(_node_row(r))
    if v.present:
        q = sql.SQL("SELECT {}, {}, {}, {} FROM {} WHERE {} = ANY(%s)").format(
            v.col("doc_id"), us(v.col("valid_from")), us(v.col("effective_at")),
            v.col("message"), v.table(), v.col("doc_id"))
        for r in conn.execute(q, [ids]):
            out[r[0]].versions[int(r[1])] = (int(r[2]), r[3] or "")
    return out


# ---------------------------------------------------------------------------------------
# reconstruction
# ---------------------------------------------------------------------------------------

def _instants(h: DocHistory) -> list[int]:
    if not h.docs:
        raise SourceError(f"document {h.doc_id!r} has no document row")
    created = min(r.valid_from for r in h.docs)
    times: set[int] = set(h.versions)
    for rows in (h.docs, h.nodes):
        for r in rows:
            times.add(r.valid_from)
            if r.valid_to is not None:
                times.add(r.valid_to)
    return sorted(t for t in times if t >= created)


def build_versions(h: DocHistory) -> list[DocVersion]:
    """The document at each of its versions, oldest first: a version is every instant at
    which a row of it started or stopped being valid, or that the versions table names.
    Raises SourceError when two rows of one node (or of the document) overlap."""
    versions: list[DocVersion] = []
    by_from = sorted(h.nodes, key=lambda r: r.valid_from)
    by_to = sorted((r for r in h.nodes if r.valid_to is not None), key=lambda r: r.valid_to)
    live: dict[str, NodeRow] = {}
    a = b = 0
    for t in _instants(h):
        # rows that ended at or before t, then rows that started at or before t
        while b < len(by_to) and by_to[b].valid_to <= t:  # type: ignore[operator]
            r = by_to[b]
            if live.get(r.node_id) is r:
                del live[r.node_id]
            b += 1
        while a < len(by_from) and by_from[a].valid_from <= t:
            r = by_from[a]
            if r.valid_to is None or r.valid_to > t:
                if r.node_id in live:
                    raise SourceError(f"document {h.doc_id!r}: node {r.node_id!r} has two "
                                      f"rows valid at {iso(t)}")
                live[r.node_id] = r
            a += 1
        docs = [r for r in h.docs if r.valid_from <= t and (r.valid_to is None or
                                                             r.valid_to > t)]
        if len(docs) != 1:
            raise SourceError(f"document {h.doc_id!r}: {len(docs)} document rows valid at "
                              f"{iso(t)} (expected 1)")
        effective, message = h.versions.get(t, (t, ""))
        versions.append(DocVersion(t, effective, message, docs[0], list(live.values())))
    return versions


def iso(micros: int) -> str:
    """Microseconds as an ISO UTC timestamp with microseconds (the form kept in TreeStore)."""
    from datetime import datetime, timedelta, timezone
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=micros)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> int:
    """Inverse of :func:`iso`."""
    from datetime import datetime, timezone
    dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def ordered_children(nodes: Iterable[NodeRow], doc_id: str,
                     at: int) -> dict[Optional[str], list[NodeRow]]:
    """parent id (None = top level) -> children in order (position, then node_id); raises
    SourceError for a node whose parent does not exist then, or a cycle."""
    nodes = list(nodes)
    ids = {r.node_id for r in nodes}
    children: dict[Optional[str], list[NodeRow]] = {}
    for r in nodes:
        parent = r.parent_id if r.parent_id not in ("",) else None
        if parent is not None and parent not in ids:
            raise SourceError(f"document {doc_id!r} at {iso(at)}: node {r.node_id!r} has parent "
                              f"{parent!r}, which does not exist then")
        children.setdefault(parent, []).append(r)
    for kids in children.values():
        kids.sort(key=lambda r: (r.position, r.node_id))
    reached, stack = 0, [None]
    while stack:
        for c in children.get(stack.pop(), []):
            reached += 1
            stack.append(c.node_id)
    if reached != len(nodes):
        raise SourceError(f"document {doc_id!r} at {iso(at)}: {len(nodes) - reached} node(s) "
                          "are not reachable from the top level (a parent cycle)")
    return children


# ---------------------------------------------------------------------------------------
# as-of queries for --verify (SQL over the source, not the reconstruction above)
# ---------------------------------------------------------------------------------------

def pg_versions(conn: Any, cfg: MigrationConfig, doc_id: str) -> list[tuple[int, int, str]]:
    """(valid_from, effective_at, message) of every version, oldest first."""
    d, n, v = cfg["documents"], cfg["nodes"], cfg["versions"]

    def select(expr: sql.Composable, table: sql.Composable, s: Section) -> sql.Composable:
        return sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(expr, table, s.col("doc_id"))

    instants, created = [], []
    for s in (d, n):
        tables = [s.table()] + ([s.table(True)] if s.has_history else [])
        for table in tables:
            instants.append(select(us(s.col("valid_from")), table, s))
            if s is d:
                created.append(select(us(s.col("valid_from")), table, s))
        if s.has_history:
            instants.append(select(_vt(s), s.table(True), s))
    if v.present:
        instants.append(select(us(v.col("valid_from")), v.table(), v))
    q = sql.SQL("WITH i(at) AS ({}), c(at) AS ({}) SELECT DISTINCT i.at FROM i "
                "WHERE i.at IS NOT NULL AND i.at >= (SELECT min(at) FROM c) ORDER BY 1").format(
        sql.SQL(" UNION ALL ").join(instants), sql.SQL(" UNION ALL ").join(created))
    times = [int(r[0]) for r in conn.execute(q, [doc_id] * (len(instants) + len(created)))]
    info: dict[int, tuple[int, str]] = {}
    if v.present:
        q = sql.SQL("SELECT {}, {}, {} FROM {} WHERE {} = %s").format(
            us(v.col("valid_from")), us(v.col("effective_at")), v.col("message"), v.table(),
            v.col("doc_id"))
        info = {int(r[0]): (int(r[1]), r[2] or "") for r in conn.execute(q, [doc_id])}
    return [(t, *info.get(t, (t, ""))) for t in times]


def pg_state_as_of(conn: Any, cfg: MigrationConfig, doc_id: str,
                   at: int) -> tuple[Optional[DocRow], list[NodeRow]]:
    """The document row and node rows valid at system time ``at`` (valid_from <= at <
    valid_to)."""
    d, n = cfg["documents"], cfg["nodes"]

    def where(s: Section) -> sql.Composable:
        vt = (sql.SQL(" AND ({vt} IS NULL OR {vt} > %s)").format(vt=_vt(s))
              if s.names.get("valid_to") else sql.SQL(""))
        return sql.SQL("{} = %s AND {} <= %s{}").format(s.col("doc_id"),
                                                        us(s.col("valid_from")), vt)

    def params(s: Section) -> list[Any]:
        one = [doc_id, at] + ([at] if s.names.get("valid_to") else [])
        return one * (2 if s.has_history else 1)

    dsel = sql.SQL(", ").join([d.col("doc_id"), d.col("name"), d.col("description"),
                               d.col("metadata"), us(d.col("valid_from")), _vt(d)])
    docs = [DocRow(r[1] or "", r[2] or "", metadata_strings(r[3]), int(r[4]),
                   None if r[5] is None else int(r[5]))
            for r in conn.execute(_union_history(d, dsel, where(d)), params(d))]
    nodes = [_node_row(r) for r in conn.execute(_union_history(n, _node_select(n), where(n)),
                                                params(n))]
    return (docs[0] if len(docs) == 1 else None), nodes


def pg_version_in_force(versions: Sequence[tuple[int, int, str]], when: int) -> Optional[int]:
    """The version (valid_from) in force at effective time ``when``: among versions with
    effective_at <= when, the greatest effective_at, ties the latest; None before all."""
    best: Optional[tuple[int, int]] = None
    for t, eff, _ in versions:
        if eff <= when and (best is None or (eff, t) > best):
            best = (eff, t)
    return best[1] if best else None

"""--verify: compare every document at every version, node for node and field for field,
as-of reads on the effective axis, the cross references and the fresh tool results, between
PostgreSQL (its own as-of queries) and TreeStore. Read-only on both sides.

Every difference is one line naming the document, the version (TreeStore number and source
commit time) and the node and field where it applies.
"""

from __future__ import annotations

import json
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Optional

import psycopg
from psycopg import sql

from treestore import Node, NotFound, TreeStoreError

from .config import MigrationConfig
from .migrate import META_KEY, Progress
from .source import (SourceError, extras_text, iso, list_documents, parse_iso, pg_state_as_of,
                     pg_version_in_force, pg_versions, us)

FIELDS = ("parent_id", "position", "title", "summary", "text", "start_page", "end_page",
          "line_num", "extras")


@dataclass
class Report:
    docs: int = 0
    versions: int = 0
    nodes: int = 0
    xrefs: int = 0
    tool_results: int = 0
    differences: list[str] = field(default_factory=list)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json(text: str) -> Any:
    return json.loads(text) if text else {}


def _flatten(roots: list[Node]) -> dict[str, Node]:
    out: dict[str, Node] = {}
    stack = list(roots)
    while stack:
        n = stack.pop()
        out[n.node_id] = n
        stack.extend(n.children)
    return out


def compare_version(doc_id: str, label: str, pg_doc: Any, pg_nodes: list[Any], ts_doc: Any,
                    ts_roots: list[Node], diffs: list[str]) -> int:
    """Compare one version; returns the number of nodes compared."""
    where = f"document {doc_id!r} {label}"
    if pg_doc is None:
        diffs.append(f"{where}: PostgreSQL has no document row then")
        return 0
    ts_meta = {k: v for k, v in ts_doc.metadata.items() if k != META_KEY}
    for name, a, b in (("name", pg_doc.name, ts_doc.name),
                       ("description", pg_doc.description, ts_doc.description),
                       ("metadata", pg_doc.metadata, ts_meta)):
        if a != b:
            diffs.append(f"{where}: document {name}: postgres {_short(a)} != treestore "
                         f"{_short(b)}")
    ts_nodes = _flatten(ts_roots)
    pg_by_id = {r.node_id: r for r in pg_nodes}
    for missing in sorted(set(pg_by_id) - set(ts_nodes)):
        diffs.append(f"{where}: node {missing!r}: missing in TreeStore")
    for extra in sorted(set(ts_nodes) - set(pg_by_id)):
        diffs.append(f"{where}: node {extra!r}: in TreeStore only")
    # position: rank among the siblings ordered by (position, node_id)
    siblings: dict[Optional[str], list[Any]] = {}
    for r in pg_nodes:
        siblings.setdefault(r.parent_id or None, []).append(r)
    rank = {}
    for kids in siblings.values():
        for i, r in enumerate(sorted(kids, key=lambda r: (r.position, r.node_id))):
            rank[r.node_id] = i
    for node_id in sorted(set(pg_by_id) & set(ts_nodes)):
        r, n = pg_by_id[node_id], ts_nodes[node_id]
        try:
            pg_extras = _json(extras_text(r.extras))
        except SourceError as exc:
            pg_extras = f"<{exc}>"
        pg = {"parent_id": r.parent_id or "", "position": rank[node_id], "title": r.title,
              "summary": r.summary, "text": r.text, "start_page": r.start_page,
              "end_page": r.end_page, "line_num": r.line_num, "extras": pg_extras}
        ts = {"parent_id": n.parent_id, "position": n.position, "title": n.title,
              "summary": n.summary, "text": n.text, "start_page": n.start_page,
              "end_page": n.end_page, "line_num": n.line_num, "extras": _json(n.extra_json)}
        for f in FIELDS:
            if pg[f] != ts[f]:
                diffs.append(f"{where}: node {node_id!r}: {f}: postgres {_short(pg[f])} != "
                             f"treestore {_short(ts[f])}")
    return len(pg_by_id)


def verify_document(conn: Any, cfg: MigrationConfig, client: Any, doc_id: str,
                    report: Report, lock: threading.Lock) -> list[str]:
    diffs: list[str] = []
    pg = pg_versions(conn, cfg, doc_id)
    try:
        ts_versions = list(client.iter_versions(doc_id))
    except NotFound:
        return [f"document {doc_id!r}: missing in TreeStore ({len(pg)} versions in PostgreSQL)"]
    # map TreeStore versions to source commit times (META_KEY of each version)
    stamps: dict[int, int] = {}
    trees: dict[int, tuple[Any, list[Node]]] = {}
    for v in ts_versions:
        doc, roots = client.get_document(doc_id, version=v.version, include_tree=True,
                                         include_text=True)
        trees[v.version] = (doc, roots)
        stamp = doc.metadata.get(META_KEY)
        if stamp is None:
            diffs.append(f"document {doc_id!r} version {v.version}: no {META_KEY} (not written "
                         "by the migration)")
            continue
        stamps[v.version] = parse_iso(stamp)
    by_time = {t: (eff, msg) for t, eff, msg in pg}
    seen: set[int] = set()
    ts_of: dict[int, int] = {}
    for v in ts_versions:
        t = stamps.get(v.version)
        if t is None:
            continue
        label = f"version {v.version} (source {iso(t)})"
        if t in seen:
            diffs.append(f"document {doc_id!r} {label}: a second TreeStore version for the "
                         "same source version (written outside the migration?)")
            continue
        seen.add(t)
        if t not in by_time:
            diffs.append(f"document {doc_id!r} {label}: PostgreSQL has no such version")
            continue
        ts_of[t] = v.version
        eff, msg = by_time[t]
        if v.commit_time != t:
            diffs.append(f"document {doc_id!r} {label}: commit time: postgres {iso(t)} != "
                         f"treestore {iso(v.commit_time)}")
        if v.effective_time != eff:
            diffs.append(f"document {doc_id!r} {label}: effective time: postgres {iso(eff)} "
                         f"!= treestore {iso(v.effective_time)}")
        if v.message != msg:
            diffs.append(f"document {doc_id!r} {label}: message: postgres {_short(msg)} != "
                         f"treestore {_short(v.message)}")
        pg_doc, pg_nodes = pg_state_as_of(conn, cfg, doc_id, t)
        doc, roots = trees[v.version]
        n = compare_version(doc_id, label, pg_doc, pg_nodes, doc, roots, diffs)
        with lock:
            report.versions += 1
            report.nodes += n
    order = [stamps[v.version] for v in ts_versions if v.version in stamps]
    if order != sorted(order):
        diffs.append(f"document {doc_id!r}: TreeStore versions are not in source order")
    for t, _, _ in pg:
        if t not in seen:
            diffs.append(f"document {doc_id!r}: source version {iso(t)} missing in TreeStore")
    # as-of reads on the effective axis at every effective time and just before it
    probes = sorted({e + d for _, e, _ in pg for d in (-1, 0)})
    for when in probes:
        want = pg_version_in_force(pg, when)
        try:
            got: Optional[int] = client.get_version_as_of(doc_id, when, axis="effective").version
        except NotFound:
            got = None
        want_ts = ts_of.get(want) if want is not None else None
        if got != want_ts:
            diffs.append(f"document {doc_id!r}: as of {iso(when)} (effective): postgres version "
                         f"{iso(want) if want else 'none'} (treestore {want_ts}) != treestore "
                         f"version {got}")
    # as-of reads on the commit axis at every source commit time and just before it: the
    # version committed last at or before the time
    commits = sorted(t for t, _, _ in pg)
    for when in sorted({t + d for t in commits for d in (-1, 0)}):
        before = [t for t in commits if t <= when]
        want_ts = ts_of.get(before[-1]) if before else None
        try:
            got = client.get_version_as_of(doc_id, when, axis="commit").version
        except NotFound:
            got = None
        if got != want_ts:
            diffs.append(f"document {doc_id!r}: as of {iso(when)} (commit): treestore version "
                         f"{got}, want {want_ts}")
    return diffs


def verify_cross_references(conn: Any, cfg: MigrationConfig, client: Any, docs: list[str],
                            report: Report, concurrency: int = 2) -> list[str]:
    x = cfg["cross_references"]
    if not x.present:
        return []
    diffs = []
    q = sql.SQL("SELECT {}, {}, {}, {}, {}, {} FROM {} WHERE {} = ANY(%s)").format(
        x.col("from_doc"), x.col("from_node"), x.col("to_doc"), x.col("to_node"),
        x.col("kind"), x.col("label"), x.table(), x.col("from_doc"))
    want: dict[tuple, str] = {(r[0], r[1], r[2], r[3], r[4] or ""): r[5] or ""
                              for r in conn.execute(q, [docs])}
    have: dict[tuple, str] = {}

    def outgoing(doc: str) -> dict[tuple, str]:
        found: dict[tuple, str] = {}
        token = ""
        try:
            while True:
                page = client.get_cross_references(doc, "", direction="outgoing", max_hops=1,
                                                   page_size=10000, page_token=token)
                for r in page.items:
                    if r.hops == 1 and r.from_doc_id == doc:
                        found[(doc, r.from_node_id, r.to_doc_id, r.to_node_id, r.kind)] = r.label
                token = page.next_page_token
                if not token:
                    return found
        except NotFound:
            return found  # reported as a missing document

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        for found in pool.map(outgoing, docs):
            have.update(found)
    for key in sorted(set(want) | set(have)):
        name = f"cross reference {key[0]}/{key[1]} -> {key[2]}/{key[3]} ({key[4]!r})"
        if key not in have:
            diffs.append(f"{name}: missing in TreeStore")
        elif key not in want:
            diffs.append(f"{name}: in TreeStore only")
        elif want[key] != have[key]:
            diffs.append(f"{name}: label: postgres {_short(want[key])} != treestore "
                         f"{_short(have[key])}")
    report.xrefs = len(want)
    return diffs


def verify_tool_results(conn: Any, cfg: MigrationConfig, client: Any,
                        last_change: dict[str, int], only: Optional[list[str]],
                        report: Report) -> list[str]:
    t = cfg["tool_results"]
    if not t.present:
        return []
    diffs = []
    q = sql.SQL("SELECT {}, {}, ({})::text, {}, {}, {}, (extract(epoch FROM now()) * "
                "1000000)::bigint FROM {}").format(
        t.col("tool_name"), t.col("args"), t.col("result"), t.col("doc_ids"),
        us(t.col("created_at")), us(t.col("expires_at")), t.table())
    for tool, args, result, doc_ids, created, expires, now in conn.execute(q):
        deps = list(doc_ids or [])
        if only is not None and (not deps or not set(deps) <= set(only)):
            continue
        if expires is not None and expires <= now + 5_000_000:
            continue  # expired (or about to) in the source: need not be in TreeStore
        if not all(d in last_change and last_change[d] <= created for d in deps):
            continue  # stale in the source
        report.tool_results += 1
        res = client.get_tool_result(tool, args_json=json.dumps(args))
        name = f"tool result {tool} {json.dumps(args, sort_keys=True)[:80]}"
        if not res.hit:
            diffs.append(f"{name}: fresh in PostgreSQL, TreeStore misses ({res.miss_reason})")
        elif json.loads(res.result_json) != json.loads(result):
            diffs.append(f"{name}: result differs")
    return diffs


def verify(dsn: str, cfg: MigrationConfig, client: Any, *, only: Optional[list[str]] = None,
           concurrency: int = 2, progress: bool = True) -> Report:
    report = Report()
    with psycopg.connect(dsn, autocommit=True) as conn:
        docs = list_documents(conn, cfg, only)
    report.docs = len(docs)
    if only:
        for m in sorted(set(only) - {d.doc_id for d in docs}):
            report.differences.append(f"document {m!r}: not in PostgreSQL (--only)")
    # documents this migration wrote that PostgreSQL no longer has (deleted since)
    source_ids = {d.doc_id for d in docs}
    for d in client.iter_documents():
        if META_KEY in d.metadata and d.doc_id not in source_ids and (
                only is None or d.doc_id in only):
            report.differences.append(f"document {d.doc_id!r}: migrated to TreeStore, no "
                                      "longer in PostgreSQL (deleted there?)")
    bar = Progress(progress, len(docs), len(docs), "verify")
    lock = threading.Lock()
    local = threading.local()
    opened: list[Any] = []

    def run(doc_id: str) -> list[str]:
        if getattr(local, "conn", None) is None:
            local.conn = psycopg.connect(dsn, autocommit=True)
            with lock:
                opened.append(local.conn)
        try:
            return verify_document(local.conn, cfg, client, doc_id, report, lock)
        except (TreeStoreError, SourceError) as exc:
            return [f"document {doc_id!r}: cannot compare: {exc}"]
        finally:
            bar.add(rows=1, docs=1)

    try:
        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            for diffs in pool.map(run, [d.doc_id for d in docs]):
                report.differences.extend(diffs)
    finally:
        bar.close()
        for c in opened:
            c.close()
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [d.doc_id for d in docs]
        report.differences += verify_cross_references(conn, cfg, client, ids, report,
                                                      concurrency)
        report.differences += verify_tool_results(
            conn, cfg, client, {d.doc_id: d.last_change for d in docs}, only, report)
    return report


def print_report(report: Report, out: Any = sys.stdout) -> None:
    for line in report.differences:
        print(f"DIFF {line}", file=out)
    print(f"verified {report.docs} documents, {report.versions} versions, {report.nodes} "
          f"node versions, {report.xrefs} cross references, {report.tool_results} tool "
          f"results: {len(report.differences)} difference(s)", file=out)

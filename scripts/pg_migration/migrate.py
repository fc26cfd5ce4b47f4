"""Writing the source into TreeStore: every version of every document, then the cross
references, then the fresh cached tool results.

Invariants that make a run idempotent and resumable:

* Every PostgreSQL version becomes exactly one TreeStore version (one PutDocument, atomic
  and durable when acknowledged), written in order, with the source's commit time (imported
  with PutDocument's ``commit_time``), effective time and message. Its metadata also carries
  ``pg.committed_at``, the same commit time, which maps TreeStore versions to source versions
  and makes every put differ from the one before, so no version is ever skipped.
* The latest TreeStore version of a document therefore says how far it got: a run writes
  only the source versions after it. A run killed at any point resumes there; a document
  changed in PostgreSQL since gets its new versions; a second run writes nothing.
* The checkpoint file only saves work (documents whose last source change is already
  migrated are not even read); losing it changes no result.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import psycopg
from psycopg import sql

from treestore import AlreadyExists, NodeInput, NotFound, TreeStoreError

from .config import MigrationConfig
from .source import (DocVersion, NodeRow, SourceDoc, SourceError, build_versions, iso,
                     list_documents, load_histories, ordered_children, parse_iso, us)

#: Metadata key holding the source commit time of each migrated version.
META_KEY = "pg.committed_at"
#: Node rows loaded per batch of documents (bounds memory per worker).
BATCH_NODE_ROWS = 20_000
BATCH_DOCS = 200


@dataclass
class Options:
    dry_run: bool = False
    concurrency: int = 2
    throttle_ms: int = 0
    checkpoint: Optional[Path] = None
    progress: bool = True
    only: Optional[list[str]] = None


@dataclass
class Totals:
    docs: int = 0
    docs_done: int = 0
    docs_up_to_date: int = 0
    docs_failed: int = 0
    versions_written: int = 0
    node_rows: int = 0
    nodes_sent: int = 0
    bytes_sent: int = 0
    xrefs_added: int = 0
    xrefs_removed: int = 0
    tool_results_stored: int = 0
    tool_results_skipped: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.node_rows / self.seconds if self.seconds else 0.0


class ForeignDocument(Exception):
    """A TreeStore document with the id of a source document that this migration did not
    write: left alone."""


class Checkpoint:
    """Per document the last source change already migrated, and the tool results stored.
    Saved atomically (write, fsync, rename) at most every second and at the end."""

    def __init__(self, path: Optional[Path], fingerprint: str) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self.docs: dict[str, int] = {}
        self.tool_results: dict[str, int] = {}
        self.xrefs: dict[str, str] = {}
        self._lock = threading.Lock()
        self._saved = 0.0
        if path is not None and path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") == fingerprint:
                self.docs = {k: int(v) for k, v in data.get("docs", {}).items()}
                self.tool_results = {k: int(v) for k, v in data.get("tool_results", {}).items()}
                self.xrefs = dict(data.get("xrefs", {}))

    def done(self, doc_id: str, last_change: int) -> None:
        with self._lock:
            self.docs[doc_id] = last_change
        self.save(force=False)

    def save(self, force: bool = True) -> None:
        if self.path is None:
            return
        with self._lock:
            if not force and time.monotonic() - self._saved < 1.0:
                return
            tmp = self.path.with_name(self.path.name + ".tmp")
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"fingerprint": self.fingerprint, "docs": self.docs,
                           "tool_results": self.tool_results, "xrefs": self.xrefs}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self._saved = time.monotonic()


class Progress:
    """A tqdm bar over node rows (with documents and bytes in its postfix), or nothing."""

    def __init__(self, enabled: bool, total_rows: int, total_docs: int, desc: str) -> None:
        self._lock = threading.Lock()
        self.total_docs = total_docs
        self.docs = 0
        self.bytes = 0
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=total_rows, unit="node", unit_scale=True, desc=desc,
                            file=sys.stderr, smoothing=0.05, mininterval=0.5)
            self._postfix()

    def _postfix(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"docs {self.docs}/{self.total_docs}, "
                                     f"{self.bytes / 1e6:.1f} MB sent", refresh=False)

    def add(self, rows: int = 0, docs: int = 0, sent: int = 0) -> None:
        with self._lock:
            self.docs += docs
            self.bytes += sent
            if self.bar is not None:
                self._postfix()
                self.bar.update(rows)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# ---------------------------------------------------------------------------------------
# documents
# ---------------------------------------------------------------------------------------

def _tree(v: DocVersion, doc_id: str) -> tuple[list[NodeInput], int]:
    """The version's tree as NodeInputs, and its content size in bytes (UTF-8)."""
    children = ordered_children(v.nodes, doc_id, v.at)
    size = 0

    def make(r: NodeRow) -> NodeInput:
        nonlocal size
        size += len(r.title.encode()) + len(r.summary.encode()) + len(r.text.encode()) + \
            len(r.extras.encode()) + len(r.node_id) + 16
        return NodeInput(r.node_id, title=r.title, summary=r.summary, text=r.text,
                         start_page=r.start_page, end_page=r.end_page, line_num=r.line_num,
                         extra_json=r.extras,
                         children=[make(c) for c in children.get(r.node_id, [])])

    return [make(r) for r in children.get(None, [])], size


def migrated_through(client: Any, doc_id: str) -> Optional[int]:
    """The source commit time of the latest migrated version of a document (None = not in
    TreeStore). Raises ForeignDocument for a document this migration did not write."""
    try:
        doc, _ = client.get_document(doc_id)
    except NotFound:
        return None
    stamp = doc.metadata.get(META_KEY)
    if stamp is None:
        raise ForeignDocument(f"document {doc_id!r} exists in TreeStore but was not written by "
                              f"this migration (no {META_KEY} in its metadata); delete it or "
                              "leave it out with --only")
    return parse_iso(stamp)


def migrate_document(client: Any, doc_id: str, versions: list[DocVersion], opts: Options,
                     totals: Totals, progress: Progress, lock: threading.Lock,
                     created: Optional[set[str]] = None) -> int:
    """Write the versions TreeStore does not have yet; returns how many were written. Adds
    the id to ``created`` when this call created the document."""
    last = migrated_through(client, doc_id)
    if last is None and created is not None:
        with lock:
            created.add(doc_id)
    if last is not None and last not in {v.at for v in versions}:
        raise SourceError(f"document {doc_id!r}: TreeStore holds source version {iso(last)}, "
                          "which PostgreSQL no longer has (history rewritten?); run --verify")
    written = 0
    exists = last is not None
    for v in versions:
        rows = sum(1 for r in v.nodes if r.valid_from == v.at)
        if last is not None and v.at <= last:
            progress.add(rows=rows)
            continue
        roots, size = _tree(v, doc_id)
        meta = dict(v.doc.metadata)
        meta[META_KEY] = iso(v.at)
        if not opts.dry_run:
            try:
                res = client.put_document(doc_id, roots, name=v.doc.name,
                                          description=v.doc.description, metadata=meta,
                                          overwrite=exists, effective_time=v.effective,
                                          commit_time=v.at, message=v.message, timeout=300)
            except AlreadyExists:
                raise ForeignDocument(f"document {doc_id!r} was created in TreeStore by "
                                      "someone else during the migration") from None
            if res.version.version == 0:  # cannot happen: META_KEY differs per version
                raise SourceError(f"document {doc_id!r}: TreeStore wrote no version for "
                                  f"{iso(v.at)}")
            if opts.throttle_ms:
                time.sleep(opts.throttle_ms / 1000)
        exists = True
        written += 1
        with lock:
            totals.versions_written += 1
            totals.nodes_sent += len(v.nodes)
            totals.bytes_sent += size
        progress.add(rows=rows, sent=size)
    return written


def _batches(docs: Sequence[SourceDoc]) -> Iterator[list[SourceDoc]]:
    batch: list[SourceDoc] = []
    rows = 0
    for d in docs:
        batch.append(d)
        rows += d.node_rows
        if rows >= BATCH_NODE_ROWS or len(batch) >= BATCH_DOCS:
            yield batch
            batch, rows = [], 0
    if batch:
        yield batch


def migrate_documents(dsn: str, cfg: MigrationConfig, client: Any, opts: Options,
                      totals: Totals, checkpoint: Checkpoint,
                      created: Optional[set[str]] = None) -> list[SourceDoc]:
    """Phase 1. Returns the source documents that are fully migrated (or would be);
    ``created`` collects the documents this run created in TreeStore."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        docs = list_documents(conn, cfg, opts.only)
    totals.docs = len(docs)
    if opts.only:
        missing = sorted(set(opts.only) - {d.doc_id for d in docs})
        for m in missing:
            totals.errors.append(f"document {m!r}: not in PostgreSQL (--only)")
    todo = [d for d in docs if checkpoint.docs.get(d.doc_id) != d.last_change]
    skipped_rows = sum(d.node_rows for d in docs) - sum(d.node_rows for d in todo)
    totals.docs_up_to_date += len(docs) - len(todo)
    progress = Progress(opts.progress, sum(d.node_rows for d in docs), len(docs),
                        "dry run" if opts.dry_run else "migrate")
    progress.add(rows=skipped_rows, docs=len(docs) - len(todo))
    lock = threading.Lock()
    todo_ids = {d.doc_id for d in todo}
    ok: list[SourceDoc] = [d for d in docs if d.doc_id not in todo_ids]
    local = threading.local()

    def conn() -> Any:
        if getattr(local, "conn", None) is None:
            local.conn = psycopg.connect(dsn, autocommit=True)
            opened.append(local.conn)
        return local.conn

    opened: list[Any] = []

    def run(batch: list[SourceDoc]) -> None:
        histories = load_histories(conn(), cfg, [d.doc_id for d in batch])
        for d in batch:
            try:
                versions = build_versions(histories[d.doc_id])
                written = migrate_document(client, d.doc_id, versions, opts, totals,
                                           progress, lock, created)
                with lock:
                    totals.node_rows += d.node_rows
                    if written:
                        totals.docs_done += 1
                    else:
                        totals.docs_up_to_date += 1
                    ok.append(d)
                if not opts.dry_run:
                    checkpoint.done(d.doc_id, d.last_change)
            except (SourceError, ForeignDocument, TreeStoreError) as exc:
                with lock:
                    totals.docs_failed += 1
                    totals.errors.append(str(exc) if not isinstance(exc, TreeStoreError)
                                         else f"document {d.doc_id!r}: {exc}")
            progress.add(docs=1)

    start = time.monotonic()
    try:
        with ThreadPoolExecutor(max(1, opts.concurrency)) as pool:
            for f in [pool.submit(run, b) for b in _batches(todo)]:
                f.result()
    finally:
        totals.seconds += time.monotonic() - start
        progress.close()
        for c in opened:
            c.close()
        if not opts.dry_run:
            checkpoint.save()
    return ok


# ---------------------------------------------------------------------------------------
# cross references and tool results
# ---------------------------------------------------------------------------------------

def _xref_hash(refs: dict[tuple[str, str, str, str], str]) -> str:
    return hashlib.sha256(json.dumps(sorted(refs.items())).encode()).hexdigest()[:24]


def sync_cross_references(dsn: str, cfg: MigrationConfig, client: Any, docs: list[str],
                          opts: Options, totals: Totals, checkpoint: Checkpoint,
                          created: set[str]) -> None:
    """Phase 2: make the outgoing references of each migrated document those of the source
    (add missing, remove extra; a changed label is a remove and an add).

    Reading a document's references from TreeStore costs a request per node of it, so it
    is skipped where the answer is known: a document this run created has none yet, and
    one whose source references are those the checkpoint says were synced last time has
    the same ones (references are only written by this migration until the cut-over)."""
    x = cfg["cross_references"]
    if not x.present or not docs:
        return
    wanted: dict[str, dict[tuple[str, str, str, str], str]] = {d: {} for d in docs}
    q = sql.SQL("SELECT {}, {}, {}, {}, {}, {} FROM {} WHERE {} = ANY(%s)").format(
        x.col("from_doc"), x.col("from_node"), x.col("to_doc"), x.col("to_node"),
        x.col("kind"), x.col("label"), x.table(), x.col("from_doc"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        for r in conn.execute(q, [docs]):
            wanted[r[0]][(r[1], r[2], r[3], r[4] or "")] = r[5] or ""
    for doc in docs:
        want = wanted[doc]
        digest = _xref_hash(want)
        if doc not in created and checkpoint.xrefs.get(doc) == digest:
            continue
        have: dict[tuple[str, str, str, str], str] = {}
        token = "" if doc not in created else None
        while token is not None:
            try:
                page = client.get_cross_references(doc, "", direction="outgoing", max_hops=1,
                                                   page_size=10000, page_token=token)
            except NotFound:  # not in TreeStore (a dry run): nothing there yet
                break
            for r in page.items:
                if r.hops == 1 and r.from_doc_id == doc:
                    have[(r.from_node_id, r.to_doc_id, r.to_node_id, r.kind)] = r.label
            token = page.next_page_token or None
        ok = True
        for key, label in have.items():
            if want.get(key) != label:
                if not opts.dry_run:
                    client.remove_cross_reference(doc, key[0], key[1], key[2], kind=key[3])
                totals.xrefs_removed += 1
        for key, label in want.items():
            if have.get(key) != label:
                if not opts.dry_run:
                    try:
                        client.add_cross_reference(doc, key[0], key[1], key[2], kind=key[3],
                                                   label=label)
                    except AlreadyExists:
                        continue
                    except NotFound as exc:
                        totals.errors.append(f"cross reference {doc}/{key[0]} -> "
                                             f"{key[1]}/{key[2]} ({key[3]!r}): {exc}")
                        ok = False
                        continue
                totals.xrefs_added += 1
        if ok and not opts.dry_run:
            checkpoint.xrefs[doc] = digest
    if not opts.dry_run:
        checkpoint.save()


def tool_result_key(tool: str, args: Any) -> str:
    return hashlib.sha256(json.dumps([tool, args], sort_keys=True,
                                     separators=(",", ":")).encode()).hexdigest()[:32]


def migrate_tool_results(dsn: str, cfg: MigrationConfig, client: Any,
                         migrated: dict[str, int], opts: Options, totals: Totals,
                         checkpoint: Checkpoint) -> None:
    """Phase 3: store the source's fresh cached results (not expired, no document they
    depend on changed since), with their remaining lifetime, depending on the current
    TreeStore version of those documents. ``migrated``: doc id -> last source change."""
    t = cfg["tool_results"]
    if not t.present:
        return
    q = sql.SQL("SELECT {}, {}, ({})::text, {}, {}, {}, (extract(epoch FROM now()) * "
                "1000000)::bigint FROM {}").format(
        t.col("tool_name"), t.col("args"), t.col("result"), t.col("doc_ids"),
        us(t.col("created_at")), us(t.col("expires_at")), t.table())
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(q)
        for tool, args, result, doc_ids, created, expires, now in cur:
            deps = list(doc_ids or [])
            if opts.only is not None and (not deps or not set(deps) <= set(opts.only)):
                continue
            fresh = expires is None or expires > now
            fresh = fresh and all(d in migrated and migrated[d] <= created for d in deps)
            key = tool_result_key(tool, args)
            if not fresh:
                totals.tool_results_skipped += 1
                continue
            if checkpoint.tool_results.get(key) == created:
                continue
            ttl = 2_592_000 if expires is None else max(1, min(2_592_000,
                                                              -(-(expires - now) // 1_000_000)))
            if not opts.dry_run:
                client.store_tool_result(tool, args_json=json.dumps(args), result_json=result,
                                         ttl_seconds=ttl, depends_on=[(d, 0) for d in deps])
                checkpoint.tool_results[key] = created
            totals.tool_results_stored += 1
    if not opts.dry_run:
        checkpoint.save()

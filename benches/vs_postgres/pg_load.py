"""Loads the corpus into PostgreSQL: schema, COPY of every table, then indexes and statistics.

    python pg_load.py --corpus DIR --dsn "host=127.0.0.1 port=55433 user=postgres dbname=bench"

The database must exist and be empty. After loading, every table, index and TOAST table is read
into shared_buffers with pg_prewarm. Rows are derived from ``docs.jsonl`` and ``xrefs.tsv``
exactly as TreeStore stores them: the latest version's content in ``nodes`` (valid since the
effective time of the version that last changed it), and every earlier content of a node in
``nodes_history`` with its validity range.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import psycopg

import pgsql

LOAD_TIME = 1_764_547_200_000_000  # created_at of the cross references (fixed: deterministic)


def node_rows(doc: dict) -> tuple[list[tuple], list[tuple]]:
    """(nodes rows, nodes_history rows) of one document record."""
    doc_id = doc["doc_id"]
    versions = doc["versions"]
    current: dict[str, list[Any]] = {}
    order: list[str] = []

    def visit(nodes: list[dict], parent: Optional[str], path: str) -> None:
        for pos, n in enumerate(nodes):
            if pos > 9999:
                raise ValueError(f"{doc_id}: more than 10000 siblings (path labels are 4 digits)")
            p = f"{path}.{pos:04d}"
            kids = n.get("children") or []
            current[n["node_id"]] = [
                doc_id, n["node_id"], parent, pos, p, n.get("title", ""), n.get("summary", ""),
                n.get("text", ""), n.get("start_page"), n.get("end_page"), n.get("line_num"),
                n.get("extra_json", ""), bool(kids), versions[0]["effective_time"]]
            order.append(n["node_id"])
            visit(kids, n["node_id"], p)

    visit(versions[0]["roots"], None, doc_id)
    history: list[tuple] = []
    for v in versions[1:]:
        t = v["effective_time"]
        for node_id, change in v["changes"].items():
            row = current[node_id]
            history.append(tuple(row) + (t,))
            row[5] = change["title"]
            row[6] = change["summary"]
            row[13] = t
    return [tuple(current[i]) for i in order], history


def docs(corpus: Path) -> Iterator[dict]:
    with (corpus / "docs.jsonl").open() as f:
        for line in f:
            yield json.loads(line)


def load(conn: psycopg.Connection, corpus: Path) -> dict[str, Any]:
    t0 = time.monotonic()
    stats: dict[str, Any] = {}
    with conn.cursor() as cur:
        cur.execute(pgsql.SCHEMA)
        n_docs = n_nodes = n_hist = 0
        with cur.copy(f"COPY nodes ({', '.join(pgsql.NODE_COPY_COLS)}) FROM STDIN") as cp:
            doc_rows = []
            history_rows: list[tuple] = []
            for d in docs(corpus):
                rows, hist = node_rows(d)
                for r in rows:
                    cp.write_row(r)
                history_rows.extend(hist)
                last = d["versions"][-1]["effective_time"]
                doc_rows.append((d["doc_id"], d.get("name", ""), d.get("description", ""),
                                 len(d["versions"]), last))
                n_docs += 1
                n_nodes += len(rows)
                n_hist += len(hist)
        with cur.copy(f"COPY nodes_history ({', '.join(pgsql.HISTORY_COPY_COLS)}) "
                      "FROM STDIN") as cp:
            for r in history_rows:
                cp.write_row(r)
        with cur.copy(f"COPY docs ({', '.join(pgsql.DOC_COPY_COLS)}) FROM STDIN") as cp:
            for r in doc_rows:
                cp.write_row(r)
        n_xrefs = 0
        with cur.copy(f"COPY xrefs ({', '.join(pgsql.XREF_COPY_COLS)}) FROM STDIN") as cp, \
                (corpus / "xrefs.tsv").open() as f:
            for line in f:
                fd, fn, td, tn, kind, label = line.rstrip("\n").split("\t")
                cp.write_row((fd, fn, td, tn, kind, label, LOAD_TIME))
                n_xrefs += 1
        conn.commit()
        stats.update(documents=n_docs, nodes=n_nodes, history_rows=n_hist, xrefs=n_xrefs,
                     copy_seconds=round(time.monotonic() - t0, 1))
        t1 = time.monotonic()
        cur.execute(pgsql.INDEXES)
        conn.commit()
        stats["index_seconds"] = round(time.monotonic() - t1, 1)
    t2 = time.monotonic()
    conn.autocommit = True
    conn.execute("VACUUM (ANALYZE, FREEZE)")
    conn.execute("CHECKPOINT")
    stats["vacuum_seconds"] = round(time.monotonic() - t2, 1)
    # Every table, index and TOAST table into shared_buffers: PostgreSQL starts the
    # measurements with the whole corpus in its own cache, not only in the OS page cache.
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    stats["prewarmed_blocks"] = conn.execute("""
        WITH toast AS (SELECT reltoastrelid AS oid FROM pg_class
                       WHERE relnamespace = 'public'::regnamespace AND reltoastrelid <> 0)
        SELECT sum(pg_prewarm(c.oid))::bigint FROM pg_class c
        WHERE c.relkind IN ('r', 'i', 't')
          AND (c.relnamespace = 'public'::regnamespace
               OR c.oid IN (SELECT oid FROM toast)
               OR c.oid IN (SELECT indexrelid FROM pg_index
                            WHERE indrelid IN (SELECT oid FROM toast)))""").fetchone()[0]
    stats["database_bytes"] = conn.execute(
        "SELECT pg_database_size(current_database())").fetchone()[0]
    stats["load_seconds"] = round(time.monotonic() - t0, 1)
    return stats


def main() -> None:
    ap = argparse.ArgumentParser(description="Load the benchmark corpus into PostgreSQL")
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--stats", type=Path, help="write the load statistics here (JSON)")
    a = ap.parse_args()
    with psycopg.connect(a.dsn) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        stats = load(conn, a.corpus)
    print(f"postgres load: {stats}", flush=True)
    if a.stats:
        a.stats.write_text(json.dumps(stats, indent=1) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Migrate PageIndex trees from PostgreSQL to TreeStore, or --verify the migration.

Carries the reasoning service's documents with their whole history, cross references and
cached tool results over; --verify checks that TreeStore holds exactly what PostgreSQL
holds.

    python scripts/migrate_postgres_to_treestore.py --pg "host=db dbname=reasoning" \\
        --addr localhost:50051 [--config mapping.toml] [--only DOC_ID,...] \\
        [--concurrency N] [--dry-run] [--checkpoint FILE]
    python scripts/migrate_postgres_to_treestore.py --pg ... --addr ... --verify

The source layout is deploy/postgres/legacy_schema.sql (see deploy/postgres/README.md);
--config maps other table and column names (deploy/postgres/migrate.example.toml).
Idempotent and resumable: run it again after a failure or an interruption, or to bring over
what changed in PostgreSQL since. Exit status: 0 success (--verify: no difference), 1 some
documents failed (--verify: differences, each printed as a DIFF line), 2 bad usage or
configuration, 3 the server or the database cannot be reached.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# the client of this repository (same version as the script), else an installed one
for path in (HERE.parent / "client" / "python", HERE):
    if path.is_dir():
        sys.path.insert(0, str(path))

import psycopg  # noqa: E402

from pg_migration.config import ConfigError, load_config  # noqa: E402
from pg_migration.migrate import (Checkpoint, Options, Totals, migrate_documents,  # noqa: E402
                                  migrate_tool_results, sync_cross_references)
from pg_migration.verify import print_report, verify  # noqa: E402
from treestore import TreeStoreClient, TreeStoreError, Unavailable  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--pg", default=os.environ.get("PG_DSN", ""),
                    help="libpq connection string or URI of the source (env PG_DSN)")
    ap.add_argument("--addr", default="localhost:50051", help="TreeStore host:port")
    ap.add_argument("--config", type=Path, help="TOML file mapping table and column names")
    ap.add_argument("--only", help="comma-separated document ids (default: all)")
    ap.add_argument("--concurrency", type=int, default=2,
                    help="documents migrated (or verified) at once (default 2)")
    ap.add_argument("--dry-run", action="store_true",
                    help="read and check everything, write nothing")
    ap.add_argument("--verify", action="store_true",
                    help="compare PostgreSQL and TreeStore instead of migrating")
    ap.add_argument("--checkpoint", type=Path, default=Path("migrate-checkpoint.json"),
                    help="checkpoint file (default ./migrate-checkpoint.json; saves work on "
                         "a re-run, never changes a result)")
    ap.add_argument("--no-checkpoint", action="store_true", help="do not read or write one")
    ap.add_argument("--throttle-ms", type=int, default=0,
                    help="pause after each version written, to leave room for live traffic")
    ap.add_argument("--timeout", type=float, default=60.0, help="per-call deadline (s)")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    ns = ap.parse_args(argv)
    if not ns.pg:
        ap.error("--pg (or PG_DSN) is required")
    if ns.concurrency < 1:
        ap.error("--concurrency must be >= 1")
    return ns


def main(argv: list[str] | None = None) -> int:
    ns = parse_args(argv)
    try:
        cfg = load_config(ns.config)
    except ConfigError as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    only = [d.strip() for d in ns.only.split(",") if d.strip()] if ns.only else None
    try:
        with psycopg.connect(ns.pg, connect_timeout=10):
            pass
    except psycopg.Error as exc:
        print(f"cannot connect to PostgreSQL: {exc}", file=sys.stderr)
        return 3
    with TreeStoreClient(ns.addr, timeout=ns.timeout) as client:
        try:
            client.wait_until_ready(timeout=10)
        except Unavailable as exc:
            print(f"cannot reach TreeStore: {exc}", file=sys.stderr)
            return 3
        if ns.verify:
            report = verify(ns.pg, cfg, client, only=only, concurrency=ns.concurrency,
                            progress=not ns.no_progress)
            print_report(report)
            return 1 if report.differences else 0
        opts = Options(dry_run=ns.dry_run, concurrency=ns.concurrency,
                       throttle_ms=ns.throttle_ms, progress=not ns.no_progress, only=only,
                       checkpoint=None if ns.no_checkpoint else ns.checkpoint)
        checkpoint = Checkpoint(None if ns.dry_run else opts.checkpoint, cfg.fingerprint())
        totals = Totals()
        created: set[str] = set()
        try:
            ok = migrate_documents(ns.pg, cfg, client, opts, totals, checkpoint, created)
            sync_cross_references(ns.pg, cfg, client, [d.doc_id for d in ok], opts, totals,
                                  checkpoint, created)
            migrate_tool_results(ns.pg, cfg, client, {d.doc_id: d.last_change for d in ok},
                                 opts, totals, checkpoint)
        except (TreeStoreError, psycopg.Error) as exc:
            print(f"migration stopped: {exc} (run again to resume)", file=sys.stderr)
            return 3
    for line in totals.errors:
        print(f"ERROR {line}", file=sys.stderr)
    verb = "would write" if ns.dry_run else "wrote"
    print(f"{'dry run: ' if ns.dry_run else ''}{totals.docs} documents: {totals.docs_done} "
          f"migrated, {totals.docs_up_to_date} up to date, {totals.docs_failed} failed; "
          f"{verb} {totals.versions_written} versions ({totals.nodes_sent} nodes, "
          f"{totals.bytes_sent / 1e6:.1f} MB) from {totals.node_rows} node rows in "
          f"{totals.seconds:.1f} s ({totals.rate:,.0f} node rows/s); cross references "
          f"+{totals.xrefs_added} -{totals.xrefs_removed}; tool results "
          f"{totals.tool_results_stored} stored, {totals.tool_results_skipped} expired or "
          f"stale")
    return 1 if totals.errors else 0


if __name__ == "__main__":
    sys.exit(main())

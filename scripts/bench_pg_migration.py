#!/usr/bin/env python3
"""Measure the PostgreSQL -> TreeStore migration rate on a synthetic corpus.

Starts a throw-away PostgreSQL cluster (initdb in a temporary directory) and a TreeStore
server (a release binary, --bin) on free loopback ports, writes the corpus with COPY
(scripts/pg_migration/fill.py: bulk_corpus), runs the migration script as a user would,
then --verify, and prints the rates. Everything is removed at the end.

    python scripts/bench_pg_migration.py --bin /path/to/release/treestore \\
        [--docs 2000] [--nodes-per-doc 500] [--concurrency 2] [--no-verify]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "client" / "python"))

import psycopg  # noqa: E402

from pg_migration import fill  # noqa: E402
from pg_migration.pgserver import TempPostgres, free_port  # noqa: E402
from treestore import TreeStoreClient  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="treestore server binary (release build)")
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--nodes-per-doc", type=int, default=500)
    ap.add_argument("--history-every", type=int, default=5,
                    help="every Nth document gets three more versions (default 5)")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--no-verify", action="store_true")
    args = ap.parse_args()

    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "client" / "python")}
    work = Path(tempfile.mkdtemp(prefix="treestore-bench-mig-"))
    server = None
    try:
        with TempPostgres() as pg:
            t = time.monotonic()
            with psycopg.connect(pg.dsn, autocommit=True) as c:
                fill.create_schema(c)
                counts = fill.bulk_corpus(c, docs=args.docs, nodes_per_doc=args.nodes_per_doc,
                                          history_every=args.history_every)
            print(f"corpus: {counts} written in {time.monotonic() - t:.1f} s", flush=True)
            port = free_port()
            log = open(work / "server.log", "wb")
            server = subprocess.Popen([args.bin, "serve", "--insecure-plaintext",
                                       "--listen", f"127.0.0.1:{port}",
                                       "--metrics-listen", f"127.0.0.1:{free_port()}",
                                       "--data-dir", str(work / "data")],
                                      stdout=log, stderr=subprocess.STDOUT)
            addr = f"127.0.0.1:{port}"
            with TreeStoreClient(addr) as ts:
                ts.wait_until_ready(timeout=60)
            cmd = [sys.executable, str(HERE / "migrate_postgres_to_treestore.py"), "--pg",
                   pg.dsn, "--addr", addr, "--concurrency", str(args.concurrency),
                   "--checkpoint", str(work / "ckpt.json")]
            t = time.monotonic()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            elapsed = time.monotonic() - t
            sys.stderr.write(proc.stderr[-2000:])
            print(proc.stdout.strip())
            if proc.returncode != 0:
                return proc.returncode
            m = re.search(r"\((\d+) nodes, ([\d.]+) MB\) from (\d+) node rows in ([\d.]+) s",
                          proc.stdout)
            assert m, proc.stdout
            sent, mb, rows, secs = int(m[1]), float(m[2]), int(m[3]), float(m[4])
            print(f"\nmigration: {rows:,} node rows ({sent:,} nodes sent in full-tree puts, "
                  f"{mb:.0f} MB) in {secs:.1f} s of migration ({elapsed:.1f} s with start-up"
                  f" and the cross-reference and tool-result phases)")
            print(f"rate: {rows / secs:,.0f} node rows/s; {sent / secs:,.0f} nodes sent/s")
            t = time.monotonic()
            proc = subprocess.run(cmd[:-2] + ["--no-checkpoint"], env=env, capture_output=True,
                                  text=True)
            print(f"second run: {time.monotonic() - t:.1f} s: {proc.stdout.strip()}")
            if not args.no_verify:
                t = time.monotonic()
                proc = subprocess.run(cmd[:-2] + ["--verify"], env=env, capture_output=True,
                                      text=True)
                print(f"verify: {time.monotonic() - t:.1f} s: "
                      f"{proc.stdout.strip().splitlines()[-1]}")
            print(f"machine: {platform.platform()}, {os.cpu_count()} cores; "
                  f"{time.strftime('%Y-%m-%d')}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

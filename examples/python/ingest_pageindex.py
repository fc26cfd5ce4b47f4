#!/usr/bin/env python3
"""Ingest PageIndex JSON outputs into a local TreeStore server and check the round trip.

    python examples/python/ingest_pageindex.py [--addr localhost:50051]
        [--fixtures fixtures/pageindex] [--overwrite]

For every *.json file: store it (document id derived from the file name), export it back
and verify the export equals the input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from treestore import AlreadyExists, TreeStoreClient, TreeStoreError
from treestore.pageindex import export_document, ingest, load_pageindex

# The fixtures kept in the repository, found from this file so the example runs from any directory.
DEFAULT_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pageindex"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="localhost:50051", help="server host:port")
    ap.add_argument("--fixtures", default=DEFAULT_FIXTURES, type=Path,
                    help="directory of PageIndex *.json files")
    ap.add_argument("--overwrite", action="store_true",
                    help="replace documents that already exist (adds a version)")
    args = ap.parse_args()

    files = sorted(args.fixtures.glob("*.json"))
    if not files:
        print(f"no *.json files in {args.fixtures}", file=sys.stderr)
        return 1
    ok = True
    with TreeStoreClient(args.addr) as ts:
        health = ts.health()
        print(f"server {args.addr}: {health.status}, {len(health.shards)} shard(s)\n")
        print(f"{'document id':<34} {'nodes':>5} {'version':>7}  round trip  name")
        for path in files:
            doc = load_pageindex(path)
            try:
                res = ingest(ts, path, overwrite=args.overwrite)
                version = res.version.version
            except AlreadyExists:
                version = ts.get_document(doc.doc_id)[0].version
            except TreeStoreError as exc:
                print(f"{doc.doc_id:<34} error: {exc}")
                ok = False
                continue
            same = export_document(ts, doc.doc_id) == json.loads(path.read_text("utf-8"))
            ok &= same
            print(f"{doc.doc_id:<34} {doc.node_count():>5} {version:>7}  "
                  f"{'identical' if same else 'DIFFERENT':<10}  {doc.name}")
        print(f"\nIngested {len(files)} documents" + ("" if ok else " (with problems)"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Bitemporal lookups: store two editions of the Federal Reserve annual report as versions of
one document, each with the date it took effect, then ask which edition was in force on
given dates and what changed between them.

    python examples/python/temporal_lookup.py [--addr localhost:50051]
        [--fixtures fixtures/pageindex] [--doc fed-annual-report]
        [--dates 2020-06-30 2022-01-01 2024-03-01]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from treestore import NotFound, TreeStoreClient
from treestore.pageindex import ingest

EDITIONS = [  # (fixture, in force from)
    ("fed_2019_annual_report_structure.json", "2019-12-31"),
    ("fed_2023_annual_report_structure.json", "2023-12-31"),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="localhost:50051", help="server host:port")
    ap.add_argument("--fixtures", type=Path,
                    default=Path(__file__).resolve().parents[2] / "fixtures" / "pageindex")
    ap.add_argument("--doc", default="fed-annual-report", help="document id to use")
    ap.add_argument("--dates", nargs="+", default=["2019-06-30", "2020-06-30", "2022-01-01",
                                                   "2024-03-01"])
    args = ap.parse_args()

    with TreeStoreClient(args.addr) as ts:
        try:
            ts.delete_document(args.doc)  # start from a clean history on every run
        except NotFound:
            pass
        # Versions never restart after a delete (a re-created document continues its
        # numbering), so keep the numbers the server gave rather than assuming 1 and 2.
        stored = []
        for i, (name, effective) in enumerate(EDITIONS):
            res = ingest(ts, args.fixtures / name, doc_id=args.doc, overwrite=i > 0,
                         effective_time=effective, message=f"edition {name.split('_')[1]}")
            stored.append(res.version.version)
            print(f"stored {name} as version {res.version.version}, in force from {effective}")
        first, second = stored

        print("\nversion history:")
        for v in ts.iter_versions(args.doc):
            print(f"  v{v.version}  committed {v.commit_dt:%Y-%m-%d %H:%M:%S}  "
                  f"effective {v.effective_dt:%Y-%m-%d}  {v.message}")

        print("\nwhich edition was in force?")
        for date in args.dates:
            try:
                v = ts.get_version_as_of(args.doc, date, axis="effective")
            except NotFound:
                print(f"  {date}: none (before the first edition)")
                continue
            doc, _ = ts.get_document(args.doc, version=v.version)
            tops = ts.get_subtree(args.doc, max_depth=1, version=v.version)
            print(f"  {date}: version {v.version} ({v.message}), {doc.node_count} sections, "
                  f"first chapters: {', '.join(t.title for t in tops[:4])}")

        d = ts.diff_versions(args.doc, first, second)
        print(f"\nversion {first} -> {second}: {len(d.added)} sections added, "
              f"{len(d.removed)} removed, {len(d.changed)} changed, {len(d.moved)} moved")
        for c in d.changed[:5]:
            old = ts.get_node(args.doc, c.node_id, version=first, include_text=False)
            new = ts.get_node(args.doc, c.node_id, version=second, include_text=False)
            print(f"  {c.node_id}: {', '.join(c.fields)}: {old.title!r} -> {new.title!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

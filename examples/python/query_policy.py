#!/usr/bin/env python3
"""Navigate a policy document the way a ReAct agent would: outline, search, read a section
with its breadcrumb, follow cross references, and cache a tool result.

    python examples/python/query_policy.py [--addr localhost:50051]
        [--doc regbi_interpretive_release] [--query "solely incidental"]

Uses the SEC "Regulation Best Interest" interpretive release from the repository's fixtures
(ingested automatically if missing).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from treestore import NotFound, TreeStoreClient, TreeStoreError
from treestore.pageindex import ingest
from treestore.tools import ToolRunner

FIXTURE = (Path(__file__).resolve().parents[2] / "fixtures" / "pageindex"
           / "regbi_interpretive_release_structure.json")


def pages(n) -> str:
    if n.start_page is None:
        return ""
    return f"p. {n.start_page}" + (f"-{n.end_page}" if n.end_page != n.start_page else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="localhost:50051", help="server host:port")
    ap.add_argument("--doc", default="regbi_interpretive_release", help="document id")
    ap.add_argument("--query", default="solely incidental", help="search words")
    args = ap.parse_args()

    with TreeStoreClient(args.addr) as ts:
        try:
            doc, _ = ts.get_document(args.doc)
        except NotFound:
            print(f"{args.doc} not found; ingesting {FIXTURE.name}")
            ingest(ts, FIXTURE, doc_id=args.doc)
            doc, _ = ts.get_document(args.doc)

        print(f"== {doc.name} (version {doc.version}, {doc.node_count} sections)")
        print(textwrap.fill(doc.description, 100, initial_indent="   ", subsequent_indent="   "))

        print("\n== Outline (two levels)")
        for top in ts.get_subtree(args.doc, max_depth=2):
            print(f"  {top.node_id}  {top.title}  [{pages(top)}]")
            for child in top.children:
                print(f"      {child.node_id}  {child.title}  [{pages(child)}]")

        print(f"\n== Search: {args.query!r}")
        hits = ts.search_nodes(args.query, doc_id=args.doc, limit=5)
        for h in hits:
            print(f"  {h.score:6.2f}  {h.node_id}  {h.title}")
        target = hits[0].node_id if hits.items else ts.get_children(args.doc)[0].node_id

        node = ts.get_node(args.doc, target)
        crumbs = ts.get_ancestors(args.doc, target, include_self=True)
        print(f"\n== Section {target}: {' > '.join(n.title for n in crumbs)}  [{pages(node)}]")
        print(textwrap.fill(node.summary or node.text or "(no summary)", 100,
                            initial_indent="   ", subsequent_indent="   "))

        # relate the section to the introduction (a cross reference inside the document)
        intro = ts.get_children(args.doc)[1].node_id
        try:
            ts.add_cross_reference(args.doc, target, args.doc, intro, kind="see-also",
                                   label="background for the interpretation")
        except TreeStoreError:
            pass  # already added by an earlier run
        print(f"\n== Cross references of {target}")
        for r in ts.get_cross_references(args.doc, target, direction="both"):
            print(f"  {r.from_node_id} -[{r.kind}]-> {r.to_doc_id}/{r.to_node_id}  "
                  f"({r.label}, hops={r.hops})")

        print("\n== The same through the agent tools (what a model would see)")
        tools = ToolRunner(ts, max_output_chars=4000)
        print("  tools:", ", ".join(d["function"]["name"] for d in tools.definitions()))
        cached = json.loads(tools.call("get_cached_result",
                                       {"tool_name": "pi_search", "args": {"doc_id": args.doc}}))
        if not cached["hit"]:
            result = tools.call("pi_search", {"doc_id": args.doc, "depth": 1,
                                              "include_summary": False})
            # cache the exact string the model saw; stale once the document changes
            tools.call("store_tool_result", {"tool_name": "pi_search",
                                             "args": {"doc_id": args.doc},
                                             "result": result, "depends_on": [args.doc]})
            print("  pi_search (computed and cached):")
        else:
            result = cached["result"]
            print("  pi_search (cache hit):")
        print(textwrap.indent(result[:800], "    "))
        print("  bad call ->", tools.call("get_node", {"doc_id": args.doc}))
        tools.close()  # stops the watch of the cached client the runner made
    return 0


if __name__ == "__main__":
    sys.exit(main())

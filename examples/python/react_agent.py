#!/usr/bin/env python3
"""A ReAct agent over TreeStore: the reasoning-service integration driving a scripted,
deterministic "model" that answers "What did Regulation Best Interest require as of DATE?"
with the ten tools, every call going through the tool-result cache.

    python examples/python/react_agent.py [--addr localhost:50051]
        [--fixture fixtures/pageindex/regbi_interpretive_release_structure.json]
        [--doc regbi-react-demo] [--dates 2019-01-01 2019-12-31 2021-01-01]

Run it twice: the second run is served from the cache (see the hit counts). A real LLM
plugs in where the scripted model is, with the same loop and tools::

    import openai
    from treestore.integrations.agent import OpenAIChatModel, run_react
    model = OpenAIChatModel(openai.OpenAI(), "gpt-4o")      # tools sent in strict mode
    run = run_react(model, tools, question)                  # tools: ReasoningTools

    import anthropic
    from treestore.integrations.agent import AnthropicModel
    model = AnthropicModel(anthropic.Anthropic(), "claude-sonnet-4-5")
    run = run_react(model, tools, question, style="anthropic")
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional, Sequence

from treestore import NotFound, TreeStoreClient
from treestore.integrations.agent import Step, ToolCall, Turn, run_react
from treestore.integrations.reasoning import ReasoningTools
from treestore.pageindex import ingest

FIXTURE = (Path(__file__).resolve().parents[2] / "fixtures" / "pageindex"
           / "regbi_interpretive_release_structure.json")
#: The release took effect on 2019-07-12; the amendment below stands for Reg BI's
#: compliance date, 2020-06-30.
EFFECTIVE = "2019-07-12"
AMENDMENT = ("2020-06-30", "0002",
             " As of the compliance date, broker-dealers must also meet Regulation Best "
             "Interest's care, disclosure and conflict-of-interest obligations when they "
             "recommend an account type.")


def first_sentences(text: str, n: int = 2) -> str:
    parts = re.split(r"(?<=[.!?])\s+", text.strip())
    return " ".join(parts[:n])


class ScriptedRegBIModel:
    """A deterministic stand-in for an LLM. It reads the tool outputs it gets back and
    decides the next call the way an agent would: find the document, ask which version was
    in force on the date, read the interpretive section of that version in full, look up
    the key concept, follow its cross references, then answer citing what it read."""

    def __init__(self, id_prefix: str = "") -> None:
        self.id_prefix = id_prefix

    def next_turn(self, question: str, steps: Sequence[Step], tools: list[dict]) -> Turn:
        date = re.search(r"\d{4}-\d{2}-\d{2}", question)
        if date is None:
            return Turn(answer="Please ask about a date (YYYY-MM-DD).")
        date_s = date.group(0)
        out = {s.call.name: s.output for s in steps}
        data = {name: (json.loads(text) if not text.startswith("Error") else {"error": text})
                for name, text in out.items()}

        def call(name: str, thought: str, **args: Any) -> Turn:
            return Turn(tool_calls=[ToolCall(name, args)], thought=thought)

        if "list_documents" not in data:
            return call("list_documents", "Find the Regulation Best Interest document.",
                        id_prefix=self.id_prefix, page_size=100)
        docs = [d for d in data["list_documents"].get("documents", [])
                if "best interest" in (d["name"] + " " + d["description"]).lower()]
        if not docs:
            return Turn(answer="No Regulation Best Interest document is stored.")
        doc = docs[0]
        if "temporal_lookup" not in data:
            return call("temporal_lookup", f"Which version was in force on {date_s}?",
                        doc_id=doc["doc_id"], date=date_s)
        tl = data["temporal_lookup"]
        if "error" in tl:
            return Turn(answer=f"I could not look it up: {tl['error']}")
        if tl["version_in_force"] is None:
            first = tl["earliest_version"]
            return Turn(answer=f"As of {date_s}, {doc['name']} did not exist yet: its first "
                               f"version took effect on {first['effective']}.")
        version = tl["version_in_force"]["version"]
        section = next((s for s in tl["outline"] if "interpretation" in s["title"].lower()),
                       tl["outline"][0])
        if "get_node" not in data:
            return call("get_node", f"Read '{section['title']}' as of version {version}.",
                        doc_id=doc["doc_id"], node_id=section["node_id"], version=version,
                        include_text=True)
        if "search_nodes" not in data:
            return call("search_nodes", "Find the sections on the 'solely incidental' prong.",
                        query="solely incidental", doc_id=doc["doc_id"], limit=3)
        if "policy_xref" not in data:
            return call("policy_xref", "What does the section refer to?",
                        doc_id=doc["doc_id"], node_id=section["node_id"])
        return Turn(answer=self.compose(date_s, doc, tl, data))

    @staticmethod
    def compose(date: str, doc: dict, tl: dict, data: dict[str, Any]) -> str:
        v = tl["version_in_force"]
        node = data["get_node"]
        lines = [f"As of {date}, version {v['version']} of {doc['name']} was in force "
                 f"(effective {v['effective']}).",
                 f"{node['title']} (pages {node.get('pages', '?')}): "
                 f"{first_sentences(node.get('summary', ''), 3)}"]
        if "Amended" in node.get("summary", "") or "compliance date" in node.get("summary", ""):
            lines.append("That version includes the compliance-date amendment.")
        hits = data["search_nodes"].get("hits", [])
        if hits:
            lines.append("On the 'solely incidental' prong see " + "; ".join(
                f"{h['title']} ({h['node_id']})" for h in hits) + ".")
        refs = data["policy_xref"].get("references", [])
        if refs:
            lines.append("Related: " + "; ".join(
                f"{r['to']['title'] or r['to']['node_id']} ({r['kind'] or 'see'})"
                for r in refs) + ".")
        return "\n".join(lines)


def setup(ts: TreeStoreClient, doc_id: str, fixture: Path) -> None:
    """Store the release (version 1) and the compliance-date amendment (version 2), once."""
    try:
        ts.get_document(doc_id)
        return
    except NotFound:
        pass
    ingest(ts, fixture, doc_id=doc_id, effective_time=EFFECTIVE, message="interpretive release")
    when, node_id, extra = AMENDMENT
    node = ts.get_node(doc_id, node_id)
    ts.update_node(doc_id, node_id, summary=node.summary + extra, effective_time=when,
                   message="compliance date amendment")
    section = ts.get_children(doc_id)[0].node_id
    ts.add_cross_reference(doc_id, node_id, doc_id, section, kind="see-also",
                           label="scope of the release")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="localhost:50051", help="server host:port")
    ap.add_argument("--fixture", type=Path, default=FIXTURE, help="PageIndex JSON of Reg BI")
    ap.add_argument("--doc", default="regbi-react-demo", help="document id to use")
    ap.add_argument("--dates", nargs="+", default=["2019-01-01", "2019-12-31", "2021-01-01"])
    args = ap.parse_args(argv)

    with TreeStoreClient(args.addr) as ts:
        setup(ts, args.doc, args.fixture)
        tools = ReasoningTools(ts, max_output_chars=6000)
        model = ScriptedRegBIModel(id_prefix=args.doc)
        for date in args.dates:
            question = f"What did Regulation Best Interest require as of {date}?"
            run = run_react(model, tools, question)
            print(f"\n== {question}")
            for step, thought in zip(run.steps, run.thoughts):
                print(f"  [{step.turn}] {thought}")
                print(f"      -> {step.call.name}({json.dumps(step.call.arguments)})")
                print(textwrap.indent(textwrap.shorten(step.output, 200), "         "))
            print("  answer:")
            print(textwrap.indent(run.answer or "(no answer)", "    "))
        s = tools.cache_stats
        server = tools.server_cache_stats()
        print(f"\ncache (this run): {s.hits} hits, {s.misses} misses, {s.stored} stored; "
              f"server since start: hit rate {server['hit_rate']:.0%}")
        r = tools.read_cache_stats()  # the client-side read cache below the tools
        print(f"read cache (this run): {r.hits} reads from memory, {r.misses} from the server")
        tools.close()  # stops the read cache's watch
    return 0


if __name__ == "__main__":
    sys.exit(main())

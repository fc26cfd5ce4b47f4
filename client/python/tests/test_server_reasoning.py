"""The reasoning-service integration end to end against the real server (marker ``server``):
a whole ReAct loop with a scripted, deterministic model over the Regulation Best Interest
fixture; the answers; a second identical run served from the cache (client and server
counters); an edit of the document making it miss; the asyncio variant; handlers."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest

from treestore import AsyncTreeStoreClient
from treestore.integrations.agent import arun_react, run_react
from treestore.integrations.reasoning import (TOOL_NAMES, AsyncReasoningTools, ReasoningTools)
from treestore.tools import TOOLS, validate_arguments

pytestmark = pytest.mark.server

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "python" / "react_agent.py"
DATES = ["2019-01-01", "2019-12-31", "2021-01-01"]


def load_example():
    spec = importlib.util.spec_from_file_location("react_agent_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def regbi(client, uid, fixture_files):
    ex = load_example()
    doc = f"{uid}-regbi"
    ex.setup(client, doc, next(p for p in fixture_files if "regbi" in p.name))
    return ex, doc


def cacheable_calls(runs):
    return sum(1 for r in runs for s in r.steps if TOOLS[s.call.name].cache)


def distinct_calls(runs):
    """Cacheable calls with distinct canonical arguments (the repeats hit the cache)."""
    return len({(s.call.name, json.dumps(validate_arguments(TOOLS[s.call.name],
                                                            s.call.arguments), sort_keys=True))
                for r in runs for s in r.steps if TOOLS[s.call.name].cache})


def run_all(ex, tools, doc, dates=DATES):
    model = ex.ScriptedRegBIModel(id_prefix=doc)
    return [run_react(model, tools, f"What did Regulation Best Interest require as of {d}?")
            for d in dates]


def test_react_loop_answers_caches_and_misses_after_an_edit(client, regbi, uid):
    ex, doc = regbi
    ns = f"test.{uid}"
    before = client.stats()

    tools = ReasoningTools(client, namespace=ns, unversioned_ttl_seconds=3600)
    first = run_all(ex, tools, doc)
    a_before, a_v1, a_v2 = (r.answer for r in first)
    assert "did not exist yet" in a_before and "2019-07-12" in a_before
    assert "version 1" in a_v1 and "effective 2019-07-12" in a_v1
    assert "Interpretation and Application" in a_v1
    assert "compliance-date amendment" not in a_v1
    assert "version 2" in a_v2 and "effective 2020-06-30" in a_v2
    assert "compliance-date amendment" in a_v2
    assert "solely incidental" in a_v2.lower() and "Related:" in a_v2
    # the model read through the tools: the full summary of the section, not a preview
    reads = [json.loads(s.output) for r in first for s in r.steps if s.call.name == "get_node"]
    assert reads and all("next_offset" not in n for n in reads)
    # within the first run, a call repeated by a later question (list_documents, the same
    # search) is already a hit
    assert tools.cache_stats.misses == distinct_calls(first) == tools.cache_stats.stored
    assert tools.cache_stats.hits == cacheable_calls(first) - distinct_calls(first)

    # the same questions again, from a new integration object: all from the cache
    mid = client.stats()
    again = ReasoningTools(client, namespace=ns, unversioned_ttl_seconds=3600)
    second = run_all(ex, again, doc)
    assert [r.answer for r in second] == [r.answer for r in first]
    assert [[s.output for s in r.steps] for r in second] == \
        [[s.output for s in r.steps] for r in first]
    assert again.cache_stats.misses == 0
    assert again.cache_stats.hits == cacheable_calls(second) > 0
    after = client.stats()
    # the server counts every lookup: the second run hit all
    assert mid.cache_misses - before.cache_misses == distinct_calls(first)
    assert after.cache_hits - mid.cache_hits == cacheable_calls(second)
    assert after.cache_misses == mid.cache_misses
    assert 0 < after.cache_hit_rate <= 1

    # an edit of the document: every result read from it misses (list_documents depends on
    # no document version and stays cached for its short TTL)
    node = client.get_node(doc, "0002")
    client.update_node(doc, "0002", summary=node.summary + " Amended in 2022: records of "
                       "every recommendation must be kept for six years.",
                       effective_time="2022-01-01", message="record keeping")
    third_tools = ReasoningTools(client, namespace=ns, unversioned_ttl_seconds=3600)
    third = run_all(ex, third_tools, doc)
    doc_dependent = sum(1 for r in third for s in r.steps
                        if s.call.name not in ("list_documents",))
    assert third_tools.cache_stats.misses == distinct_calls(third) - 1  # list_documents hit
    assert doc_dependent > 0
    assert third_tools.cache_stats.hits == cacheable_calls(third) - distinct_calls(third) + 1
    assert [r.answer for r in third] == [r.answer for r in first]  # history is unchanged
    later = run_all(ex, third_tools, doc, ["2023-01-01"])[0]
    assert "version 3" in later.answer and "effective 2022-01-01" in later.answer
    read = next(s for s in later.steps if s.call.name == "get_node")
    assert "six years" in json.loads(read.output)["summary"]


def test_async_integration_matches_the_sync_one(client, regbi, uid):
    ex, doc = regbi
    ns = f"test.{uid}.async"
    sync_runs = run_all(ex, ReasoningTools(client, namespace=ns,
                                           unversioned_ttl_seconds=3600), doc)

    async def go():
        async with AsyncTreeStoreClient(client.address) as aclient:
            tools = AsyncReasoningTools(aclient, namespace=ns, unversioned_ttl_seconds=3600)
            model = ex.ScriptedRegBIModel(id_prefix=doc)
            runs = [await arun_react(model, tools, f"What did Regulation Best Interest "
                                                   f"require as of {d}?") for d in DATES]
            handlers = tools.handlers()
            direct = await handlers["get_node"](doc_id=doc, node_id="0002")
            return runs, tools.cache_stats, await tools.server_cache_stats(), direct

    runs, stats, server, direct = asyncio.run(go())
    assert [r.answer for r in runs] == [r.answer for r in sync_runs]
    # the runs are served from what the sync runs stored; the direct call (latest version,
    # not asked before) missed
    assert stats.hits == cacheable_calls(runs) and stats.misses == 1
    assert server["hits"] > 0
    assert json.loads(direct)["node_id"] == "0002"


def test_handlers_for_a_services_tool_dispatch(client, regbi):
    _, doc = regbi
    tools = ReasoningTools(client, cache=False)
    handlers = tools.handlers()
    assert tuple(handlers) == TOOL_NAMES and len(handlers) == 10
    for name, fn in handlers.items():
        assert fn.__name__ == name and "Why in the set:" in fn.__doc__
    out = json.loads(handlers["pi_search"](doc_id=doc, depth=1))
    assert [n["node_id"] for n in out["tree"]] == ["0000", "0001", "0002", "0006"]
    assert handlers["get_node"](doc_id=doc, node_id="nope").startswith(
        "Error: get_node failed (NOT_FOUND)")
    assert handlers["pi_search"](doc_id=doc, depth=99).startswith("Error: invalid arguments")
    assert tools.cache_stats.hits == tools.cache_stats.misses == 0


def test_results_of_a_deleted_document_are_not_served(client, uid, fixture_files):
    """Staleness also covers deletion: the cached result of a deleted document misses."""
    from treestore.pageindex import ingest

    doc = f"{uid}-gone"
    ingest(client, next(p for p in fixture_files if "regbi" in p.name), doc_id=doc)
    tools = ReasoningTools(client, namespace=f"test.{uid}.gone")
    first = tools.call("get_node", {"doc_id": doc, "node_id": "0000"})
    assert tools.call("get_node", {"doc_id": doc, "node_id": "0000"}) == first
    assert tools.cache_stats.hits == 1
    client.delete_document(doc)
    out = tools.call("get_node", {"doc_id": doc, "node_id": "0000"})
    assert out.startswith("Error: get_node failed (NOT_FOUND)")
    assert tools.cache_stats.misses == 2

"""Server-free tests of treestore.tools: schemas, argument handling, error strings,
truncation, and handler output against a stub client."""

from __future__ import annotations

import json

import grpc
import pytest

from treestore import NotFound, Unavailable
from treestore.tools import TOOLS, TRUNCATION_MARKER, ToolRunner, tool_definitions
from treestore.types import (CrossReference, Diff, Document, Node, NodeChange, Page, SearchHit,
                             StoredToolResult, ToolResult, Version)

jsonschema = pytest.importorskip("jsonschema")

EXPECTED = {"pi_search", "temporal_lookup", "policy_xref", "store_tool_result",
            "get_cached_result", "get_node", "get_ancestors", "list_documents", "search_nodes",
            "diff_versions", "get_page_content"}


def tree():
    return [
        Node("0000", title="Preface", start_page=1, end_page=2, summary="S0", text="preface text",
             has_children=False),
        Node("0001", title="Part 1", start_page=3, end_page=9, has_children=True, children=[
            Node("0002", parent_id="0001", title="1.1", start_page=3, end_page=5,
                 text="one one", summary="s11"),
            Node("0003", parent_id="0001", position=1, title="1.2", start_page=6, end_page=9,
                 text="x" * 50_000),
        ]),
    ]


class StubClient:
    """Implements the client methods the handlers use, with canned data."""

    def __init__(self):
        self.calls = []

    def get_subtree(self, doc_id, node_id="", *, max_depth=0, **kw):
        self.calls.append(("get_subtree", doc_id, node_id, max_depth, kw))
        if doc_id == "missing":
            raise NotFound("document 'missing' not found", code=grpc.StatusCode.NOT_FOUND,
                           method="GetSubtree")
        if doc_id == "down":
            raise Unavailable("shard 3 recovering", code=grpc.StatusCode.UNAVAILABLE,
                              method="GetSubtree")
        if doc_id == "bug":
            raise KeyError("boom")
        return tree()

    def get_version_as_of(self, doc_id, when, *, axis="commit"):
        self.calls.append(("get_version_as_of", doc_id, when, axis))
        return Version(2, 1_700_000_000_000_000, 1_690_000_000_000_000, "2023 edition", 10)

    def get_node(self, doc_id, node_id, *, include_text=True, **kw):
        self.calls.append(("get_node", doc_id, node_id, include_text, kw))
        return Node(node_id, title=f"title {node_id}", start_page=3, end_page=5,
                    text="body" if include_text else "")

    def get_cross_references(self, doc_id, node_id="", **kw):
        self.calls.append(("get_cross_references", doc_id, node_id, kw))
        return Page([CrossReference(doc_id, node_id, "other", "0009", "cites", "see 9", hops=1)])

    def store_tool_result(self, tool_name, args, result, *, ttl_seconds=0, depends_on=()):
        self.calls.append(("store_tool_result", tool_name, args, result, ttl_seconds,
                           list(depends_on)))
        return StoredToolResult('{"a":1}', 1, 3_600_000_001, [])

    def get_tool_result(self, tool_name, args):
        return ToolResult(hit=True, result_json='{"answer":42}', stored_at=1)

    def get_ancestors(self, doc_id, node_id, *, include_self=False):
        return [Node("0001", title="Part 1"), Node(node_id, title="1.1", parent_id="0001")]

    def list_documents(self, *, page_size=0, page_token="", id_prefix=""):
        return Page([Document("fed", name="fed.pdf", version=2, node_count=10)], "")

    def search_nodes(self, query, *, doc_id="", limit=0):
        return Page([SearchHit("fed", "0002", "1.1", 1.23456, "...one one...")], "next")

    def diff_versions(self, doc_id, from_version, to_version=0):
        return Diff(from_version, 3, added=["0009"], changed=[NodeChange("0002", ["title"])])

    def get_document(self, doc_id, *, include_tree=False, include_text=False):
        return Document(doc_id), tree()


@pytest.fixture()
def runner():
    return ToolRunner(StubClient())


def test_all_tools_present():
    assert set(TOOLS) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schema_is_valid_json_schema(name):
    tool = TOOLS[name]
    schema = tool.parameters
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    for req in schema["required"]:
        assert req in schema["properties"]
    for key, prop in schema["properties"].items():
        assert prop.get("description"), f"{name}.{key} needs a description"
        if "default" in prop:
            jsonschema.validate(prop["default"], prop)
    assert 20 < len(tool.description) < 1024
    assert tool.name.replace("_", "").isalnum() and len(tool.name) <= 64


def test_definition_styles():
    openai = tool_definitions("openai")
    anthropic = tool_definitions("anthropic")
    assert len(openai) == len(anthropic) == len(EXPECTED)
    for o, a in zip(openai, anthropic):
        assert o["type"] == "function"
        assert set(o["function"]) == {"name", "description", "parameters"}
        assert set(a) == {"name", "description", "input_schema"}
        assert o["function"]["parameters"] == a["input_schema"]
        json.dumps(o), json.dumps(a)
    with pytest.raises(ValueError):
        TOOLS["get_node"].definition("gemini")


@pytest.mark.parametrize("name,args,fragment", [
    ("pi_search", {}, "missing required argument 'doc_id'"),
    ("pi_search", {"doc_id": "d", "depth": "two"}, "'depth' must be of type integer"),
    ("pi_search", {"doc_id": "d", "depth": 0}, "'depth' must be >= 1"),
    ("pi_search", {"doc_id": "d", "depth": 99}, "'depth' must be <= 10"),
    ("pi_search", {"doc_id": "d", "bogus": 1}, "unknown argument(s) ['bogus']"),
    ("pi_search", {"doc_id": ""}, "'doc_id' must not be empty"),
    ("pi_search", "{not json", "not valid JSON"),
    ("pi_search", "[1]", "must be a JSON object"),
    ("get_node", {"doc_id": "d", "node_id": 7}, "'node_id' must be of type string"),
    ("get_node", {"doc_id": "d", "node_id": "n", "include_text": "yes"}, "type boolean"),
    ("temporal_lookup", {"doc_id": "d", "date": "last tuesday"}, "date"),
    ("temporal_lookup", {"doc_id": "d", "date": "2023-13-45"}, "not an ISO 8601"),
    ("temporal_lookup", {"doc_id": "d", "date": "2023-01-01", "axis": "x"}, "must be one of"),
    ("policy_xref", {"doc_id": "d", "node_id": "n", "direction": "up"}, "must be one of"),
    ("policy_xref", {"doc_id": "d", "node_id": "n", "max_hops": 9}, "<= 3"),
    ("diff_versions", {"doc_id": "d", "from_version": -1}, ">= 1"),
    ("get_page_content", {"doc_id": "d", "start_page": 5, "end_page": 2}, "must be >="),
    ("get_page_content", {"doc_id": "d", "start_page": 1, "end_page": 500}, "at most 50"),
    ("search_nodes", {"query": ""}, "must not be empty"),
    ("store_tool_result", {"tool_name": "t", "args": [], "result": 1}, "type object"),
    ("store_tool_result", {"tool_name": "t", "args": {}, "result": 1,
                           "depends_on": [""]}, "must not be empty"),
    ("get_cached_result", {"tool_name": "t"}, "missing required argument 'args'"),
    ("list_documents", {"page_size": 1000}, "<= 100"),
])
def test_bad_arguments_become_messages(runner, name, args, fragment):
    out = runner.call(name, args)
    assert out.startswith("Error: "), out
    assert fragment in out, out
    assert "Traceback" not in out


def test_unknown_tool(runner):
    out = runner.call("rm_rf", {})
    assert out.startswith("Error: unknown tool") and "pi_search" in out


def test_server_errors_become_messages(runner):
    out = runner.call("pi_search", {"doc_id": "missing"})
    assert out.startswith("Error: pi_search failed (NOT_FOUND)") and "list_documents" in out
    out = runner.call("pi_search", {"doc_id": "down"})
    assert "(UNAVAILABLE)" in out and "retry later" in out
    out = runner.call("pi_search", {"doc_id": "bug"})
    assert out.startswith("Error: pi_search failed unexpectedly (KeyError")
    assert "Traceback" not in out


def test_pi_search_output(runner):
    out = json.loads(runner.call("pi_search", '{"doc_id": "fed", "depth": 2}'))
    assert out["tree"][0] == {"node_id": "0000", "title": "Preface", "pages": "1-2",
                              "summary": "S0"}
    assert [c["node_id"] for c in out["tree"][1]["children"]] == ["0002", "0003"]
    assert runner.client.calls[-1][:4] == ("get_subtree", "fed", "", 2)


def test_temporal_lookup(runner):
    out = json.loads(runner.call("temporal_lookup", {"doc_id": "fed", "date": "2023-06-30",
                                                     "node_id": "0002"}))
    assert out["version_in_force"]["version"] == 2
    assert out["node"]["title"] == "title 0002"
    call = [c for c in runner.client.calls if c[0] == "get_version_as_of"][-1]
    assert call[2] == 1688083200000000 and call[3] == "effective"
    assert [c for c in runner.client.calls if c[0] == "get_node"][-1][4] == {"version": 2}


def test_other_handlers(runner):
    x = json.loads(runner.call("policy_xref", {"doc_id": "fed", "node_id": "0002"}))
    assert x["references"][0]["to"] == {"doc_id": "other", "node_id": "0009",
                                        "title": "title 0009"}
    s = json.loads(runner.call("store_tool_result", {"tool_name": "pi_search",
                                                     "args": {"doc_id": "fed"},
                                                     "result": {"x": 1},
                                                     "depends_on": ["fed"]}))
    assert s["stored"] is True
    assert json.loads(runner.call("get_cached_result", {"tool_name": "t", "args": {}})) == \
        {"hit": True, "stored_at": "1970-01-01T00:00:00.000001Z", "result": {"answer": 42}}
    a = json.loads(runner.call("get_ancestors", {"doc_id": "fed", "node_id": "0002"}))
    assert a["breadcrumb"] == "Part 1 > 1.1"
    assert json.loads(runner.call("list_documents", {}))["documents"][0]["doc_id"] == "fed"
    h = json.loads(runner.call("search_nodes", {"query": "one"}))
    assert h["hits"][0]["score"] == 1.2346 and h["more"] is True
    d = json.loads(runner.call("diff_versions", {"doc_id": "fed", "from_version": 1}))
    assert d["added"] == ["0009"] and d["changed"] == [{"node_id": "0002", "fields": ["title"]}]
    n = json.loads(runner.call("get_node", {"doc_id": "fed", "node_id": "0002"}))
    assert n["text"] == "body"


def test_get_page_content_overlap(runner):
    out = json.loads(runner.call("get_page_content", {"doc_id": "fed", "start_page": 4,
                                                      "end_page": 5}))
    assert [n["node_id"] for n in out["nodes"]] == ["0001", "0002"]
    assert out["nodes"][1]["text"] == "one one"
    out = json.loads(runner.call("get_page_content", {"doc_id": "fed", "start_page": 100}))
    assert out["nodes"] == [] and out["note"]


def test_output_is_bounded(runner):
    r = ToolRunner(StubClient(), max_output_chars=1000)
    out = r.call("get_page_content", {"doc_id": "fed", "start_page": 6})
    assert len(out) <= 1000
    assert TRUNCATION_MARKER in out
    small = r.call("get_ancestors", {"doc_id": "fed", "node_id": "0002"})
    assert TRUNCATION_MARKER not in small
    for name in EXPECTED:  # error strings are bounded too
        assert len(r.call(name, {"bogus": "x" * 5000})) <= 1000


def test_runner_subset_and_validation():
    r = ToolRunner(StubClient(), tools=["get_node", "pi_search"])
    assert [d["name"] for d in r.definitions("anthropic")] == ["get_node", "pi_search"]
    assert r.call("search_nodes", {"query": "x"}).startswith("Error: unknown tool")
    with pytest.raises(ValueError):
        ToolRunner(StubClient(), tools=["nope"])
    with pytest.raises(ValueError):
        ToolRunner(StubClient(), max_output_chars=10)

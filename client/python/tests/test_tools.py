"""Server-free tests of treestore.tools: the ten tools, their schemas (JSON Schema, OpenAI
strict mode, Anthropic), argument handling, error strings, and output sized to a budget on
node boundaries, against a stub client with canned data."""

from __future__ import annotations

import asyncio
import json
import re

import grpc
import pytest

from treestore import NotFound, Unavailable
from treestore._tool_render import fit_json
from treestore.tools import TOOLS, AsyncToolRunner, ToolRunner, tool_definitions
from treestore.types import (CrossReference, Diff, Document, Node, NodeChange, Page, SearchHit,
                             StoredToolResult, ToolResult, Version)

jsonschema = pytest.importorskip("jsonschema")

EXPECTED = {"pi_search", "temporal_lookup", "policy_xref", "store_tool_result",
            "get_cached_result", "get_node", "list_documents", "search_nodes",
            "diff_versions", "get_page_content"}

LONG_SUMMARY = " ".join(f"word{i}" for i in range(650))  # ~4.6 KB, 7x the old 600 cut


def tree():
    return [
        Node("0000", title="Preface", start_page=1, end_page=2, summary="S0", text="preface text"),
        Node("0001", title="Part 1", start_page=3, end_page=9, has_children=True, children=[
            Node("0002", parent_id="0001", title="1.1", start_page=3, end_page=5,
                 text="one one", summary="s11"),
            Node("0003", parent_id="0001", position=1, title="1.2", start_page=6, end_page=9,
                 summary=LONG_SUMMARY, text="x" * 20_000),
        ]),
    ]


def wide_tree(n=300):
    return [Node(f"{i:04d}", title=f"Chapter {i} " + "t" * 40, start_page=i, end_page=i + 1,
                 summary="s" * 500, has_children=True,
                 children=[Node(f"{i:04d}.{j}", parent_id=f"{i:04d}", position=j,
                                title=f"{i}.{j}", summary="c" * 100) for j in range(3)])
            for i in range(n)]


def err(cls, code, msg, method):
    return cls(msg, code=code, method=method)


class StubClient:
    """The client methods the handlers use, with canned data (version 7 is the latest)."""

    def __init__(self, roots=None):
        self.calls = []
        self.roots = roots if roots is not None else tree()

    def _find(self, node_id, nodes=None):
        for n in self.roots if nodes is None else nodes:
            if n.node_id == node_id:
                return n
            found = self._find(node_id, n.children)
            if found:
                return found
        return None

    def get_document(self, doc_id, *, include_tree=False, include_text=False, version=None):
        self.calls.append(("get_document", doc_id, version))
        if doc_id == "missing":
            raise err(NotFound, grpc.StatusCode.NOT_FOUND, "document 'missing' not found",
                      "GetDocument")
        if doc_id == "down":
            raise err(Unavailable, grpc.StatusCode.UNAVAILABLE, "shard 3 recovering",
                      "GetDocument")
        return Document(doc_id, version=7), (self.roots if include_tree else [])

    def get_subtree(self, doc_id, node_id="", *, max_depth=0, version=None):
        self.calls.append(("get_subtree", doc_id, node_id, max_depth, version))
        if doc_id == "bug":
            raise KeyError("boom")
        if node_id:
            return [self._find(node_id)]
        return self.roots

    def get_version_as_of(self, doc_id, when, *, axis="commit"):
        self.calls.append(("get_version_as_of", doc_id, when, axis))
        if when < 1_500_000_000_000_000:
            raise err(NotFound, grpc.StatusCode.NOT_FOUND,
                      f"no version of {doc_id} at {when}", "GetVersionAsOf")
        return Version(2, 1_700_000_000_000_000, 1_690_000_000_000_000, "2023 edition", 10)

    def list_versions(self, doc_id, *, page_size=0, page_token=""):
        return Page([Version(1, 1_600_000_000_000_000, 1_577_750_400_000_000, "2019 edition"),
                     Version(2, 1_700_000_000_000_000, 1_703_980_800_000_000, "2023 edition")])

    def get_node(self, doc_id, node_id, *, include_text=True, version=None):
        self.calls.append(("get_node", doc_id, node_id, include_text, version))
        n = self._find(node_id) or Node(node_id, title=f"title {node_id}")
        return Node(n.node_id, n.parent_id, n.position, n.title, n.summary,
                    n.text if include_text else "", n.start_page, n.end_page,
                    has_children=bool(n.children))

    def get_ancestors(self, doc_id, node_id, *, version=None):
        return [Node("0001", title="Part 1")] if node_id in ("0002", "0003") else []

    def get_cross_references(self, doc_id, node_id="", **kw):
        self.calls.append(("get_cross_references", doc_id, node_id, kw))
        return Page([CrossReference(doc_id, node_id, "other", "0009", "cites", "see 9", hops=1)])

    def store_tool_result(self, tool_name, args, result, *, ttl_seconds=0, depends_on=()):
        self.calls.append(("store_tool_result", tool_name, args, result, ttl_seconds,
                           list(depends_on)))
        return StoredToolResult('{"a":1}', 1, 3_600_000_001, [])

    def get_tool_result(self, tool_name, args):
        self.calls.append(("get_tool_result", tool_name, args))
        return ToolResult(hit=True, result_json='"the answer"', stored_at=1)

    def list_documents(self, *, page_size=0, page_token="", id_prefix=""):
        return Page([Document("fed", name="fed.pdf", version=2, node_count=10)], "")

    def search_nodes(self, query, *, doc_id="", limit=0, page_token=""):
        # 25 hits in id order over two pages, scores not in id order
        hits = [SearchHit("fed", f"{i:04d}", f"t{i}", float((i * 7) % 25), "...") for i in
                range(25)]
        start = int(page_token or 0)
        page = hits[start:start + 20]
        return Page(page, str(start + 20) if start + 20 < len(hits) else "")

    def diff_versions(self, doc_id, from_version, to_version=0):
        return Diff(from_version, to_version, added=["0009"],
                    changed=[NodeChange("0002", ["title"])])


@pytest.fixture()
def runner():
    return ToolRunner(StubClient())


def call(runner, name, args):
    out = runner.call(name, args)
    assert not out.startswith("Error"), out
    assert len(out) <= runner.max_output_chars
    return json.loads(out)


# ---------------------------------------------------------------------------------------
# the set and its schemas
# ---------------------------------------------------------------------------------------

def test_exactly_ten_tools_each_saying_why():
    assert set(TOOLS) == EXPECTED and len(TOOLS) == 10
    for tool in TOOLS.values():
        assert tool.handler.__doc__.strip().startswith("Why in the set:"), tool.name
        assert len(tool.why) > 40


STRICT_KEYWORDS = {"type", "description", "enum", "properties", "required",
                   "additionalProperties", "items"}
JSON_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}


def strict_mode_violations(schema, path="$", depth=0):
    """OpenAI strict-mode rules (function calling with strict: true), in the common subset
    other providers accept too: every object closes additionalProperties and requires every
    property (optional = nullable); every schema has a type; arrays have items; enums
    match their type; no keyword outside the subset (no default, bounds, formats)."""
    out = []
    if depth > 10:
        out.append(f"{path}: nested deeper than 10 levels")
    extra = set(schema) - STRICT_KEYWORDS
    if extra:
        out.append(f"{path}: keywords not allowed in strict mode: {sorted(extra)}")
    types = schema.get("type")
    if types is None:
        return out + [f"{path}: no type"]
    types = types if isinstance(types, list) else [types]
    if not types or set(types) - JSON_TYPES:
        out.append(f"{path}: bad type {types}")
    if "enum" in schema:
        for v in schema["enum"]:
            kind = {str: "string", bool: "boolean", int: "integer", float: "number",
                    type(None): "null"}[type(v)]
            if kind not in types and not (kind == "integer" and "number" in types):
                out.append(f"{path}: enum value {v!r} does not match the type {types}")
    if "object" in types:
        props = schema.get("properties")
        if props is None:
            out.append(f"{path}: object without properties")
            props = {}
        if schema.get("additionalProperties") is not False:
            out.append(f"{path}: additionalProperties must be false")
        if sorted(schema.get("required", [])) != sorted(props):
            out.append(f"{path}: required must list every property")
        for key, sub in props.items():
            out += strict_mode_violations(sub, f"{path}.{key}", depth + 1)
    if "array" in types:
        if "items" not in schema:
            out.append(f"{path}: array without items")
        else:
            out += strict_mode_violations(schema["items"], f"{path}[]", depth + 1)
    return out


def test_the_strict_mode_checker_rejects_what_strict_mode_rejects():
    assert strict_mode_violations({"description": "any JSON value"})  # the old 'result'
    assert strict_mode_violations({"type": "object", "properties": {"a": {"type": "string"}},
                                   "required": [], "additionalProperties": False})
    assert strict_mode_violations({"type": "object", "properties": {},
                                   "required": [], "additionalProperties": True})
    assert strict_mode_violations({"type": "object", "properties": {"a": {
        "type": "integer", "minimum": 1}}, "required": ["a"], "additionalProperties": False})
    assert strict_mode_violations({"type": ["string", "null"], "enum": ["a"], "default": "a"})
    assert not strict_mode_violations({"type": ["string", "null"], "enum": ["a", None]})


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schema_is_valid_and_strict(name):
    tool = TOOLS[name]
    schema = tool.parameters
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    assert strict_mode_violations(schema) == []
    for key, prop in schema["properties"].items():
        assert prop.get("description"), f"{name}.{key} needs a description"
    # what a strict-mode model sends for "no value" (every optional argument null) is valid
    nulls = {k: None for k in schema["properties"]}
    for k, p in tool.params.items():
        if p.required:
            nulls[k] = {"string": "x" * max(p.min_length, 10), "integer": 1,
                        "boolean": True, "array": []}[p.type]
    jsonschema.validate(nulls, schema)
    assert 20 < len(tool.description) < 1024
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool.name)


def test_store_tool_result_result_has_a_type():
    result = TOOLS["store_tool_result"].parameters["properties"]["result"]
    assert result["type"] == "string"


def test_definition_styles():
    openai = tool_definitions("openai")
    responses = tool_definitions("openai-responses")
    anthropic = tool_definitions("anthropic")
    assert len(openai) == len(anthropic) == len(responses) == 10
    for o, r, a in zip(openai, responses, anthropic):
        assert o["type"] == "function" and o["function"]["strict"] is True
        assert set(o["function"]) == {"name", "description", "parameters", "strict"}
        assert set(r) == {"type", "name", "description", "parameters", "strict"}
        assert set(a) == {"name", "description", "input_schema"}
        assert a["input_schema"]["type"] == "object"
        assert o["function"]["parameters"] == a["input_schema"] == r["parameters"]
        json.dumps(o), json.dumps(a)
    with pytest.raises(ValueError):
        TOOLS["get_node"].definition("gemini")


# ---------------------------------------------------------------------------------------
# arguments and errors
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,args,fragment", [
    ("pi_search", {}, "missing required argument 'doc_id'"),
    ("pi_search", {"doc_id": "d", "depth": "two"}, "'depth' must be of type integer"),
    ("pi_search", {"doc_id": "d", "depth": 0}, "'depth' must be >= 1"),
    ("pi_search", {"doc_id": "d", "depth": 99}, "'depth' must be <= 10"),
    ("pi_search", {"doc_id": "d", "bogus": 1}, "unknown argument(s) ['bogus']"),
    ("pi_search", {"doc_id": ""}, "'doc_id' must not be empty"),
    ("pi_search", {"doc_id": "d", "page_token": "zz"}, "not a token returned by pi_search"),
    ("pi_search", "{not json", "not valid JSON"),
    ("pi_search", "[1]", "must be a JSON object"),
    ("get_node", {"doc_id": "d", "node_id": 7}, "'node_id' must be of type string"),
    ("get_node", {"doc_id": "d", "node_id": "0002", "include_text": "yes"}, "type boolean"),
    ("get_node", {"doc_id": "d", "node_id": "0002", "offset": 10**6}, "past the end"),
    ("temporal_lookup", {"doc_id": "d", "date": "last tuesday"}, "date"),
    ("temporal_lookup", {"doc_id": "d", "date": "2023-13-45"}, "not an ISO 8601"),
    ("temporal_lookup", {"doc_id": "d", "date": "2023-01-01", "axis": "x"}, "must be one of"),
    ("policy_xref", {"doc_id": "d", "node_id": "n", "direction": "up"}, "must be one of"),
    ("policy_xref", {"doc_id": "d", "node_id": "n", "max_hops": 9}, "<= 3"),
    ("diff_versions", {"doc_id": "d", "from_version": -1}, ">= 1"),
    ("get_page_content", {"doc_id": "d", "start_page": 5, "end_page": 2}, "must be >="),
    ("get_page_content", {"doc_id": "d", "start_page": 1, "end_page": 500}, "at most 50"),
    ("search_nodes", {"query": ""}, "must not be empty"),
    ("search_nodes", {"query": "a", "page_token": "r:1"}, "not a token returned by search"),
    ("store_tool_result", {"tool_name": "t", "args": "[]", "result": "1"}, "JSON object"),
    ("store_tool_result", {"tool_name": "t", "args": "{}", "result": 1}, "type string"),
    ("store_tool_result", {"tool_name": "t", "args": "{}", "result": "r",
                           "depends_on": [""]}, "must be a non-empty string"),
    ("get_cached_result", {"tool_name": "t"}, "missing required argument 'args'"),
    ("list_documents", {"page_size": 1000}, "<= 100"),
])
def test_bad_arguments_become_messages(runner, name, args, fragment):
    out = runner.call(name, args)
    assert out.startswith("Error: "), out
    assert fragment in out, out
    assert "Traceback" not in out


def test_nulls_mean_defaults(runner):
    a = call(runner, "pi_search", {"doc_id": "fed", "node_id": None, "depth": None,
                                   "include_summary": None, "page_token": None})
    b = call(runner, "pi_search", {"doc_id": "fed"})
    assert a == b
    assert runner.client.calls[-1][:4] == ("get_subtree", "fed", "", 2)


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


# ---------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------

def test_pi_search_output(runner):
    out = call(runner, "pi_search", '{"doc_id": "fed", "depth": 2}')
    assert out["version"] == 7
    assert out["tree"][0] == {"node_id": "0000", "title": "Preface", "pages": "1-2",
                              "summary": "S0"}
    part = out["tree"][1]
    assert [c["node_id"] for c in part["children"]] == ["0002", "0003"]
    long = part["children"][1]
    assert long["summary_chars"] == len(LONG_SUMMARY) and len(long["summary"]) < 500
    assert runner.client.calls[-1] == ("get_subtree", "fed", "", 2, 7)


def test_pi_search_wide_tree_is_cut_on_node_boundaries_and_pages():
    """The defect: a wide tree at the default depth built ~35k characters and was cut at
    8,000 in the middle of the JSON. Now every page is valid JSON within the budget, and
    the pages cover every top-level section exactly once."""
    r = ToolRunner(StubClient(wide_tree(300)), max_output_chars=8000)
    seen, token, pages = [], "", 0
    while True:
        out = r.call("pi_search", {"doc_id": "fed", "depth": 2, "page_token": token})
        assert len(out) <= 8000
        data = json.loads(out)
        pages += 1
        seen += [n["node_id"] for n in data["tree"]]
        for n in data["tree"]:  # whole nodes only: every shown node has its title
            assert n["title"].startswith("Chapter")
        token = data.get("next_page_token", "")
        if not token:
            break
        assert "page_token" in data["note"]
    assert seen == [f"{i:04d}" for i in range(300)] and pages > 5


def test_pi_search_of_an_empty_document():
    out = call(ToolRunner(StubClient([])), "pi_search", {"doc_id": "fed"})
    assert out == {"doc_id": "fed", "version": 7, "tree": []}


def test_pi_search_deep_tree_marks_omitted_children():
    roots = [Node("0000", title="Root", has_children=True, children=[
        Node(f"c{i}", title=f"child {i}", summary="z" * 300, has_children=True,
             children=[Node(f"g{i}.{j}", title="g" * 50) for j in range(10)])
        for i in range(10)])]
    r = ToolRunner(StubClient(roots), max_output_chars=3000)
    data = json.loads(r.call("pi_search", {"doc_id": "fed", "node_id": "0000", "depth": 3}))
    root = data["tree"][0]
    assert root["node_id"] == "0000" and "children" in root
    omitted = [c for c in root["children"] if "children_omitted" in c] + \
        ([root] if "children_omitted" in root else [])
    assert omitted and "expand" in data["note"]


def test_get_node_returns_the_whole_summary_and_pages_the_rest(runner):
    """The defect: summaries were cut at 600 characters everywhere."""
    out = call(runner, "get_node", {"doc_id": "fed", "node_id": "0003", "include_text": False})
    assert out["summary"] == LONG_SUMMARY and "next_offset" not in out
    assert out["breadcrumb"] == "Part 1 > 1.2"
    small = ToolRunner(StubClient(), max_output_chars=2000)
    content, offset = "", 0
    for _ in range(100):
        part = call(small, "get_node", {"doc_id": "fed", "node_id": "0003", "offset": offset})
        content += part.get("summary", "") + part.get("text", "")
        if "next_offset" not in part:
            break
        assert part["next_offset"] > offset and "offset=" in part["note"]
        offset = part["next_offset"]
    assert content == LONG_SUMMARY + "x" * 20_000


def test_temporal_lookup(runner):
    out = call(runner, "temporal_lookup", {"doc_id": "fed", "date": "2023-06-30",
                                           "node_id": "0002"})
    assert out["version_in_force"]["version"] == 2
    assert out["version_in_force"]["effective"] == "2023-07-22T04:26:40Z"
    assert out["node"]["title"] == "1.1" and out["node"]["summary"] == "s11"
    call_ = [c for c in runner.client.calls if c[0] == "get_version_as_of"][-1]
    assert call_[2] == 1688083200000000 and call_[3] == "effective"
    assert [c for c in runner.client.calls if c[0] == "get_node"][-1][4] == 2


def test_temporal_lookup_before_the_first_version(runner):
    """The defect: raw microseconds and 'Check the ids'. Now dates, and 'did not exist'."""
    out = call(runner, "temporal_lookup", {"doc_id": "fed", "date": "2001-01-01"})
    assert out["version_in_force"] is None
    assert "did not exist yet on 2001-01-01" in out["note"]
    assert "took effect on 2019-12-31" in out["note"]
    assert out["earliest_version"]["version"] == 1
    assert not re.search(r"\d{13,}", json.dumps(out))  # no raw microseconds


def test_search_nodes_best_first_with_page_token(runner):
    """The defect: first hits by id, no page token. Now ranked over all hits, paged."""
    seen, token = [], ""
    while True:
        out = call(runner, "search_nodes", {"query": "x", "limit": 10, "page_token": token})
        seen += [(h["score"], h["node_id"]) for h in out["hits"]]
        token = out.get("next_page_token", "")
        if not token:
            break
    assert out["total_hits"] == 25 and len(seen) == 25
    assert seen == sorted(seen, key=lambda s: (-s[0], s[1]))
    assert seen[0][0] == 24.0


def test_get_page_content_pages_on_node_boundaries():
    r = ToolRunner(StubClient(), max_output_chars=3000)
    got: dict[str, str] = {}
    token = ""
    for _ in range(100):
        out = call(r, "get_page_content", {"doc_id": "fed", "start_page": 4, "end_page": 7,
                                           "page_token": token})
        for n in out["nodes"]:
            got[n["node_id"]] = got.get(n["node_id"], "") + n.get("summary", "") + \
                n.get("text", "")
        token = out.get("next_page_token", "")
        if not token:
            break
    assert list(got) == ["0001", "0002", "0003"]
    assert got["0002"] == "s11one one" and got["0003"] == LONG_SUMMARY + "x" * 20_000
    out = call(r, "get_page_content", {"doc_id": "fed", "start_page": 100})
    assert out["nodes"] == [] and out["note"]


def test_other_handlers(runner):
    x = call(runner, "policy_xref", {"doc_id": "fed", "node_id": "0002"})
    assert x["references"][0]["to"] == {"doc_id": "other", "node_id": "0009",
                                        "title": "title 0009"}
    s = call(runner, "store_tool_result", {"tool_name": "answer", "args": '{"q": 1}',
                                           "result": "42", "depends_on": ["fed"]})
    assert s["stored"] is True
    stored = [c for c in runner.client.calls if c[0] == "store_tool_result"][-1]
    assert stored[1:4] == ("agent:answer", {"q": 1}, "42")
    assert call(runner, "get_cached_result", {"tool_name": "t", "args": {"q": 1}}) == \
        {"hit": True, "stored_at": "1970-01-01T00:00:00.000001Z", "result": "the answer"}
    assert call(runner, "list_documents", {})["documents"][0]["doc_id"] == "fed"
    d = call(runner, "diff_versions", {"doc_id": "fed", "from_version": 1})
    assert d["to_version"] == 7 and d["added"] == ["0009"]
    assert d["changed"] == [{"node_id": "0002", "fields": ["title"]}]


def test_fit_json_keeps_json_valid():
    value = {"a": ["x" * 3000] * 20, "b": {"c": list(range(2000))}, "d": "y" * 9000}
    for budget in (300, 1000, 5000, 20000):
        text = fit_json(value, budget)
        assert len(text) <= budget
        json.loads(text)
    small = fit_json({"k": "v"}, 300)
    assert json.loads(small) == {"k": "v"}


def test_every_tool_output_is_bounded():
    r = ToolRunner(StubClient(), max_output_chars=600)
    args = {"pi_search": {"doc_id": "fed", "depth": 5},
            "get_node": {"doc_id": "fed", "node_id": "0003"},
            "get_page_content": {"doc_id": "fed", "start_page": 6},
            "temporal_lookup": {"doc_id": "fed", "date": "2024-01-01", "node_id": "0003"},
            "search_nodes": {"query": "x", "limit": 50}}
    for name, a in args.items():
        out = r.call(name, a)
        assert len(out) <= 600, name
        json.loads(out)
    for name in EXPECTED:  # error strings are bounded too
        assert len(r.call(name, {"bogus": "x" * 5000})) <= 600


def test_runner_subset_and_validation():
    r = ToolRunner(StubClient(), tools=["get_node", "pi_search"])
    assert [d["name"] for d in r.definitions("anthropic")] == ["get_node", "pi_search"]
    assert r.call("search_nodes", {"query": "x"}).startswith("Error: unknown tool")
    with pytest.raises(ValueError):
        ToolRunner(StubClient(), tools=["nope"])
    with pytest.raises(ValueError):
        ToolRunner(StubClient(), max_output_chars=10)


class AsyncStub:
    """The stub's methods as coroutines."""

    def __init__(self):
        self.sync = StubClient()

    def __getattr__(self, name):
        fn = getattr(self.sync, name)

        async def method(*a, **kw):
            await asyncio.sleep(0)
            return fn(*a, **kw)
        return method


def test_async_runner_gives_the_same_outputs():
    sync = ToolRunner(StubClient())
    arunner = AsyncToolRunner(AsyncStub())
    cases = [("pi_search", {"doc_id": "fed"}), ("get_node", {"doc_id": "fed", "node_id": "0002"}),
             ("temporal_lookup", {"doc_id": "fed", "date": "2001-01-01"}),
             ("pi_search", {"doc_id": "missing"}), ("policy_xref", {"doc_id": "fed",
                                                                    "node_id": "0002"})]

    async def run():
        return [await arunner.call(n, a) for n, a in cases]

    assert asyncio.run(run()) == [sync.call(n, a) for n, a in cases]

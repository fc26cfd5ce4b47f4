"""Pure (server-free) tests of the PageIndex <-> TreeStore conversion."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest

from treestore import InvalidArgument
from treestore.pageindex import (RESERVED_KEY, doc_id_from_path, from_pageindex,
                                 load_pageindex, to_pageindex)

from ._fake import FIXTURES, store_roundtrip

FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))


def roundtrip(data, **kw):
    doc = from_pageindex(copy.deepcopy(data), **kw)
    return to_pageindex(*store_roundtrip(doc))


def test_fixtures_present():
    assert len(FIXTURE_FILES) == 4, FIXTURES


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_roundtrip_exact(path: Path):
    original = json.loads(path.read_text(encoding="utf-8"))
    doc = load_pageindex(path)
    exported = to_pageindex(*store_roundtrip(doc))
    assert exported == original
    # and through a JSON file, as the CLI does
    assert json.loads(json.dumps(exported)) == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fixture_mapping(path: Path):
    original = json.loads(path.read_text(encoding="utf-8"))
    doc = load_pageindex(path)
    assert doc.doc_id == doc_id_from_path(path)
    assert not doc.doc_id.endswith("_structure")
    assert doc.name == original["doc_name"]
    assert doc.description == original.get("doc_description", "")
    assert doc.metadata["pageindex.mode"] == "pdf"

    def count(nodes):
        return sum(1 + count(n.get("nodes", [])) for n in nodes)

    assert doc.node_count() == count(original["structure"])
    first, src = doc.roots[0], original["structure"][0]
    assert first.node_id == src["node_id"]
    assert first.title == src["title"]
    assert first.start_page == src["start_index"] and first.end_page == src["end_index"]
    # known keys go to typed fields, so the fixtures need no extra_json at all
    stack = list(doc.roots)
    while stack:
        n = stack.pop()
        assert n.extra_json == ""
        assert len(n.node_id) == 4 and n.node_id.isdigit()
        stack.extend(n.children)


def test_fed_editions_have_distinct_ids():
    ids = {load_pageindex(p).doc_id for p in FIXTURE_FILES}
    assert len(ids) == 4


def test_key_order_does_not_matter():
    path = FIXTURES / "regbi_interpretive_release_structure.json"
    original = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(7)

    def shuffle(obj):
        if isinstance(obj, dict):
            items = list(obj.items())
            rng.shuffle(items)
            return {k: shuffle(v) for k, v in items}
        if isinstance(obj, list):
            return [shuffle(v) for v in obj]
        return obj

    shuffled = shuffle(original)
    assert list(shuffled) != list(original) or True
    assert roundtrip(shuffled, doc_id="x") == original


def test_unknown_keys_kept():
    data = {
        "doc_name": "a.pdf",
        "fork_version": 3,
        "structure": [{
            "title": "A", "node_id": "0000", "start_index": 1, "end_index": 2,
            "physical_index": "<physical_index_1>", "confidence": 0.93,
            "tags": ["x", {"y": None}], "nodes": [
                {"node_id": "0001", "title": "B", "start_index": 2, "end_index": 2,
                 "appear_start": "yes"}],
        }],
    }
    doc = from_pageindex(copy.deepcopy(data), doc_id="a")
    extra = json.loads(doc.roots[0].extra_json)
    assert extra == {"physical_index": "<physical_index_1>", "confidence": 0.93,
                     "tags": ["x", {"y": None}]}
    assert json.loads(doc.metadata["pageindex.extra_json"]) == {"fork_version": 3}
    assert roundtrip(data, doc_id="a") == data


def test_markdown_mode_line_num():
    data = {"doc_name": "README.md", "structure": [
        {"title": "Intro", "node_id": "0000", "line_num": 1, "text": "# Intro\nhello",
         "nodes": [{"title": "Install", "node_id": "0001", "line_num": 5,
                    "summary": "how to install"}]},
        {"title": "Usage", "node_id": "0002", "line_num": 20},
    ]}
    doc = from_pageindex(copy.deepcopy(data), source_name="docs/README_structure.json")
    assert doc.doc_id == "README"
    assert doc.metadata["pageindex.mode"] == "markdown"
    assert doc.roots[0].line_num == 1 and doc.roots[0].start_page is None
    assert doc.roots[0].children[0].line_num == 5
    assert doc.roots[0].text == "# Intro\nhello"
    assert roundtrip(data, doc_id="readme") == data


def test_values_that_do_not_fit_typed_fields_are_kept():
    data = {"doc_name": "", "doc_description": None, "structure": [
        {"title": "", "node_id": "0000", "summary": "", "text": None, "start_index": None,
         "end_index": "7", "line_num": True, "nodes": []},
        {"title": 5, "node_id": "0001", "start_index": 2**70, "end_index": 1.5,
         "nodes": [1, 2]},
    ]}
    doc = from_pageindex(copy.deepcopy(data), doc_id="odd")
    assert doc.name == "" and doc.description == ""
    assert doc.roots[0].start_page is None and doc.roots[0].line_num is None
    assert doc.roots[0].children == [] and doc.roots[1].children == []
    assert roundtrip(data, doc_id="odd") == data


def test_missing_and_duplicate_node_ids():
    data = {"doc_name": "d", "structure": [
        {"title": "no id"},
        {"title": "dup", "node_id": "0001"},
        {"title": "dup again", "node_id": "0001"},
        {"title": "int id", "node_id": 7},
        {"title": "taken", "node_id": "ts-1"},
    ]}
    doc = from_pageindex(copy.deepcopy(data), doc_id="d")
    ids = [n.node_id for n in doc.roots]
    assert len(set(ids)) == len(ids)
    assert ids[1] == "0001" and ids[4] == "ts-1"
    assert RESERVED_KEY in json.loads(doc.roots[0].extra_json)
    assert roundtrip(data, doc_id="d") == data


def test_bare_list_and_missing_structure():
    nodes = [{"title": "A", "node_id": "0000", "start_index": 1, "end_index": 1}]
    assert roundtrip(nodes, doc_id="l") == nodes
    assert roundtrip({"doc_name": "x.pdf"}, doc_id="x") == {"doc_name": "x.pdf"}


def test_doc_id_derivation():
    assert doc_id_from_path("results/2019-annual-report_structure.json") == "2019-annual-report"
    assert doc_id_from_path("Regulation Best Interest_Interpretive release_structure.json") \
        == "Regulation-Best-Interest_Interpretive-release"
    assert from_pageindex({"doc_name": "q1-fy25.pdf", "structure": []}).doc_id == "q1-fy25"
    with pytest.raises(InvalidArgument):
        from_pageindex({"structure": []})


def test_invalid_inputs():
    with pytest.raises(InvalidArgument):
        from_pageindex("nope", doc_id="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        from_pageindex({"structure": {"a": 1}}, doc_id="x")
    with pytest.raises(InvalidArgument):
        from_pageindex({"structure": ["not a node"]}, doc_id="x")
    with pytest.raises(InvalidArgument):
        from_pageindex({"structure": [{"node_id": "1", RESERVED_KEY: 1}]}, doc_id="x")


def test_load_invalid_json_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        load_pageindex(bad)


def test_put_request_size_is_reasonable():
    # the biggest fixture must fit comfortably in one PutDocument message
    from treestore._proto import treestore_pb2 as pb

    doc = load_pageindex(FIXTURES / "disney_q1_fy25_earnings_structure.json")
    req = pb.PutDocumentRequest(doc_id=doc.doc_id)
    req.roots.extend(n.to_proto() for n in doc.roots)
    assert req.ByteSize() < 4 * 1024 * 1024

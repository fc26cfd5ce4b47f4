"""treestore.tools against the real server with the PageIndex fixtures (marker ``server``)."""

from __future__ import annotations

import json

import pytest

from treestore.pageindex import ingest, load_pageindex
from treestore.tools import ToolRunner

pytestmark = pytest.mark.server


@pytest.fixture()
def loaded(client, uid, fixture_files):
    ids = {}
    for path in fixture_files:
        base = load_pageindex(path).doc_id
        ids[base] = f"{uid}-{base}"
        ingest(client, path, doc_id=ids[base], effective_time="2019-12-31"
               if "2019" in base else None)
    fed = f"{uid}-fed"
    ingest(client, next(p for p in fixture_files if "2019" in p.name), doc_id=fed,
           effective_time="2019-12-31")
    ingest(client, next(p for p in fixture_files if "2023" in p.name), doc_id=fed,
           overwrite=True, effective_time="2023-12-31")
    ids["fed"] = fed
    return ids


def test_tools_against_server(client, loaded, uid):
    r = ToolRunner(client, max_output_chars=6000)
    regbi = loaded["regbi_interpretive_release"]

    out = json.loads(r.call("pi_search", {"doc_id": regbi, "depth": 1}))
    assert out["tree"] and all("children" not in n for n in out["tree"])
    first = out["tree"][0]["node_id"]
    out = json.loads(r.call("pi_search", {"doc_id": regbi, "node_id": first, "depth": 3}))
    assert out["tree"][0]["node_id"] == first

    node = json.loads(r.call("get_node", {"doc_id": regbi, "node_id": "0000"}))
    assert node["title"] == "Preface" and node["pages"] == "1-2"

    node = json.loads(r.call("get_node", {"doc_id": loaded["disney_q1_fy25_earnings"],
                                          "node_id": "0002"}))
    assert node["breadcrumb"].count(" > ") >= 1 and node["breadcrumb"].endswith(node["title"])

    docs = json.loads(r.call("list_documents", {"id_prefix": uid, "page_size": 100}))
    assert {d["doc_id"] for d in docs["documents"]} == set(loaded.values())

    hits = json.loads(r.call("search_nodes", {"query": "federal reserve", "doc_id": loaded["fed"]}))
    scores = [h["score"] for h in hits["hits"]]
    assert scores and scores == sorted(scores, reverse=True)

    tl = json.loads(r.call("temporal_lookup", {"doc_id": loaded["fed"], "date": "2021-01-01"}))
    assert tl["version_in_force"]["version"] == 1
    tl = json.loads(r.call("temporal_lookup", {"doc_id": loaded["fed"], "date": "2024-01-01",
                                               "node_id": "0000"}))
    assert tl["version_in_force"]["version"] == 2 and tl["node"]["title"] == "Preface"
    before = json.loads(r.call("temporal_lookup", {"doc_id": loaded["fed"],
                                                   "date": "2001-01-01"}))
    assert before["version_in_force"] is None
    assert "did not exist yet on 2001-01-01" in before["note"]
    assert "took effect on 2019-12-31" in before["note"]

    diff = json.loads(r.call("diff_versions", {"doc_id": loaded["fed"], "from_version": 1}))
    assert diff["to_version"] == 2 and (diff["added"] or diff["changed"] or diff["removed"])

    pages = json.loads(r.call("get_page_content", {"doc_id": regbi, "start_page": 1,
                                                   "end_page": 2}))
    assert any(n["node_id"] == "0000" for n in pages["nodes"])

    client.add_cross_reference(regbi, "0000", loaded["fed"], "0000", kind="cites")
    x = json.loads(r.call("policy_xref", {"doc_id": regbi, "node_id": "0000"}))
    assert x["references"][0]["to"]["doc_id"] == loaded["fed"]

    st = json.loads(r.call("store_tool_result", {"tool_name": "answer",
                                                 "args": json.dumps({"doc_id": regbi}),
                                                 "result": "ok", "depends_on": [regbi]}))
    assert st["stored"]
    got = json.loads(r.call("get_cached_result", {"tool_name": "answer",
                                                  "args": json.dumps({"doc_id": regbi})}))
    assert got == {"hit": True, "stored_at": got["stored_at"], "result": "ok"}

    small = ToolRunner(client, max_output_chars=800)
    big = small.call("pi_search", {"doc_id": loaded["disney_q1_fy25_earnings"], "depth": 10})
    assert len(big) <= 800
    cut = json.loads(big)  # cut on node boundaries: still valid JSON
    assert cut["tree"] and ("next_page_token" in cut or "children_omitted" in big)

    err = r.call("get_node", {"doc_id": regbi, "node_id": "9999"})
    assert err.startswith("Error: get_node failed (NOT_FOUND)") and "Traceback" not in err

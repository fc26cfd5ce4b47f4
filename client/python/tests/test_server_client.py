"""Every TreeStoreClient method against the real server (marker ``server``)."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

import grpc
import pytest

from treestore import (AlreadyExists, Conflict, DeadlineExceeded, FailedPrecondition,
                       InvalidArgument, NodeInput, NotFound, ResourceExhausted, TreeStoreClient,
                       Unavailable)
from treestore._proto import treestore_pb2 as pb
from treestore.pageindex import export_document, ingest, load_pageindex

pytestmark = pytest.mark.server


def small_tree() -> list[dict]:
    return [
        {"node_id": "a", "title": "Alpha chapter", "summary": "about alpha", "text": "alpha text",
         "start_page": 1, "end_page": 10, "children": [
             {"node_id": "a1", "title": "Alpha one", "start_page": 1, "end_page": 5,
              "children": [{"node_id": "a1x", "title": "Deep leaf", "start_page": 1,
                            "end_page": 2, "text": "zebra crossing"}]},
             {"node_id": "a2", "title": "Alpha two", "start_page": 6, "end_page": 10,
              "extra": {"confidence": 0.5}},
         ]},
        {"node_id": "b", "title": "Beta chapter", "start_page": 11, "end_page": 20},
    ]


@pytest.fixture()
def doc(client, uid) -> str:
    doc_id = f"{uid}-doc"
    res = client.put_document(doc_id, small_tree(), name="small.pdf", description="desc",
                              metadata={"team": "x"}, message="create")
    assert res.version.version == 1
    return doc_id


def raw(client: TreeStoreClient):
    """The raw stub, to send requests the Python client would refuse."""
    return client._stub


def raw_code(fn, request) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        fn(request, timeout=10)
    return info.value.code()


# -------------------------------------------------------------------------------- health


def test_health(client):
    h = client.health()
    assert h.status == "serving"
    assert h.shards, "at least one shard"
    assert [s.shard_id for s in h.shards] == sorted(s.shard_id for s in h.shards)
    for s in h.shards:
        assert s.state == "serving"
        assert s.wal_durable_lsn <= s.wal_last_lsn


def test_stats(client, doc):
    client.get_node(doc, "a")
    st = client.stats()
    assert st.documents >= 1 and st.nodes >= 5 and st.versions >= 1
    assert 0.0 <= st.cache_hit_rate <= 1.0
    if st.cache_hits + st.cache_misses:
        assert st.cache_hit_rate == pytest.approx(st.cache_hits / (st.cache_hits + st.cache_misses))
    assert st.shards and sum(s.documents for s in st.shards) == st.documents
    assert st.uptime_seconds >= 0


# ----------------------------------------------------------------------------- documents


def test_pageindex_fixtures_roundtrip(client, uid, fixture_files):
    for path in fixture_files:
        doc_id = f"{uid}-{load_pageindex(path).doc_id}"
        res = ingest(client, path, doc_id=doc_id)
        original = json.loads(path.read_text(encoding="utf-8"))
        assert res.version.version == 1
        assert res.document.node_count == load_pageindex(path).node_count()
        assert export_document(client, doc_id) == original, path.name


def test_put_document_fields(client, doc):
    d, roots = client.get_document(doc)
    assert d.doc_id == doc and d.name == "small.pdf" and d.description == "desc"
    assert d.metadata == {"team": "x"} and d.version == 1 and d.node_count == 5
    assert d.created_at == d.updated_at > 0 and roots == []
    d, roots = client.get_tree(doc, include_text=True)
    assert [n.node_id for n in roots] == ["a", "b"]
    assert [c.node_id for c in roots[0].children] == ["a1", "a2"]
    assert roots[0].children[0].children[0].text == "zebra crossing"
    assert roots[0].children[1].extra == {"confidence": 0.5}


def test_put_document_exists_and_overwrite(client, doc):
    with pytest.raises(AlreadyExists):
        client.put_document(doc, [{"node_id": "z"}])
    res = client.put_document(doc, [{"node_id": "z", "title": "Z"}], name="v2", overwrite=True)
    assert res.version.version == 2 and res.document.node_count == 1
    with pytest.raises(NotFound):
        client.get_node(doc, "a")
    assert client.get_node(doc, "a", version=1).title == "Alpha chapter"


def test_put_document_generated_id(client):
    res = client.put_document("", [{"node_id": "x"}], name="anon")
    assert re.fullmatch(r"[0-9a-f]{32}", res.document.doc_id)
    assert client.get_document(res.document.doc_id)[0].name == "anon"


@pytest.mark.parametrize("bad_id", ["a\nb", "x" * 257, "tab\there", "\x7f"])
def test_put_document_invalid_doc_id(client, bad_id):
    with pytest.raises(InvalidArgument) as info:
        client.put_document(bad_id, [])
    assert "doc_id" in info.value.details


def test_put_document_max_id_length(client, uid):
    doc_id = (uid + "é" * 200)[:256]
    doc_id = doc_id.encode()[:256].decode(errors="ignore")
    client.put_document(doc_id, [{"node_id": "n" * 256}])
    assert client.get_node(doc_id, "n" * 256).node_id == "n" * 256


def test_put_document_invalid_trees(client, uid):
    with pytest.raises(InvalidArgument) as info:
        client._run(_raw_put(f"{uid}-e", [pb.NodeInput(node_id="")]))
    assert "node_id" in info.value.details
    with pytest.raises(InvalidArgument):  # duplicate node_id inside one tree
        client.put_document(f"{uid}-d", [{"node_id": "x"}, {"node_id": "y", "children": [
            {"node_id": "x"}]}])
    with pytest.raises(InvalidArgument) as info:
        client.put_document(f"{uid}-j", [{"node_id": "x", "extra_json": "[1,2]"}])
    assert "extra_json" in info.value.details
    with pytest.raises(InvalidArgument):
        client.put_document(f"{uid}-k", [{"node_id": "x", "extra_json": "{not json"}])
    with pytest.raises(NotFound):
        client.get_document(f"{uid}-d")


def _raw_put(doc_id, roots):
    from treestore._calls import Call

    return Call("PutDocument", pb.PutDocumentRequest(doc_id=doc_id, roots=roots),
                lambda r: r, idempotent=False)


def test_text_size_limit(client, uid):
    with pytest.raises(ResourceExhausted):
        client.put_document(f"{uid}-big", [{"node_id": "x", "text": "a" * (17 * 1024 * 1024)}],
                            timeout=60)


def test_list_documents(client, uid):
    for i in range(5):
        client.put_document(f"{uid}-l{i}", [], metadata={"parity": "even" if i % 2 == 0
                                                         else "odd", "k": "v"})
    page = client.list_documents(id_prefix=f"{uid}-l", page_size=2)
    assert [d.doc_id for d in page] == [f"{uid}-l0", f"{uid}-l1"] and page.next_page_token
    all_ids = [d.doc_id for d in client.iter_documents(id_prefix=f"{uid}-l", page_size=2)]
    assert all_ids == [f"{uid}-l{i}" for i in range(5)]
    even = client.list_documents(id_prefix=f"{uid}-l",
                                 metadata_filter={"parity": "even", "k": "v"})
    assert [d.doc_id for d in even] == [f"{uid}-l0", f"{uid}-l2", f"{uid}-l4"]
    assert client.list_documents(id_prefix=f"{uid}-l", metadata_filter={"parity": "x"}).items == []
    big = client.list_documents(page_size=5000)  # clamped to 1000, not an error
    assert len(big) <= 1000
    assert raw_code(raw(client).ListDocuments,
                    pb.ListDocumentsRequest(page_token="garbage!")) == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_delete_document(client, doc):
    with pytest.raises(FailedPrecondition):
        client.delete_document(doc, expected_version=7)
    nodes, versions = client.delete_document(doc, expected_version=1)
    assert nodes == 5 and versions == 1
    with pytest.raises(NotFound):
        client.get_document(doc)
    with pytest.raises(NotFound):
        client.delete_document(doc)
    with pytest.raises(NotFound):
        client.list_versions(doc)


def test_list_versions(client, doc):
    client.update_node(doc, "a", title="A2", message="rename")
    client.update_node(doc, "b", title="B2", effective_time="2020-01-01")
    versions = list(client.iter_versions(doc, page_size=1))
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[0].message == "create" and versions[1].message == "rename"
    assert versions[0].commit_time < versions[1].commit_time < versions[2].commit_time
    assert versions[0].effective_time == versions[0].commit_time
    assert versions[2].effective_dt == datetime(2020, 1, 1, tzinfo=timezone.utc)
    assert versions[0].nodes_changed == 5 and versions[1].nodes_changed == 1
    page = client.list_versions(doc, page_size=2)
    assert len(page) == 2 and page.next_page_token


def test_recreated_document_continues_its_versions(client, doc):
    client.update_node(doc, "a", title="A2")
    client.delete_document(doc)
    res = client.put_document(doc, [{"node_id": "x", "title": "X"}])
    assert res.version.version == 3
    assert [v.version for v in client.iter_versions(doc)] == [3]


def test_stored_times_within_what_datetime_holds(client, doc):
    # The server stores only times a datetime can hold, so every *_dt property works.
    latest = client.update_node(doc, "a", title="A2", effective_time=253402300799999999)
    assert latest.version.effective_dt == datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                   tzinfo=timezone.utc)
    earliest = client.update_node(doc, "a", title="A3", effective_time=-62135596800000000)
    assert earliest.version.effective_dt == datetime(1, 1, 1, tzinfo=timezone.utc)
    for t in (2**63 - 1, 253402300799999999 + 1, -2**63):
        with pytest.raises(InvalidArgument, match="effective_time"):
            client.update_node(doc, "a", title="A4", effective_time=t)


# ----------------------------------------------------------------------------- node reads


def test_get_node(client, doc):
    n = client.get_node(doc, "a1x")
    assert n.title == "Deep leaf" and n.text == "zebra crossing"
    assert n.parent_id == "a1" and n.position == 0 and not n.has_children and n.children == []
    assert (n.start_page, n.end_page, n.line_num) == (1, 2, None)
    assert client.get_node(doc, "a1x", include_text=False).text == ""
    a2 = client.get_node(doc, "a2")
    assert a2.position == 1 and a2.extra == {"confidence": 0.5}
    assert client.get_node(doc, "a").has_children
    with pytest.raises(NotFound):
        client.get_node(doc, "nope")
    with pytest.raises(NotFound):
        client.get_node(doc + "-missing", "a")
    # GetNode without include_text set returns the text (proto default TRUE)
    resp = raw(client).GetNode(pb.GetNodeRequest(doc_id=doc, node_id="a1x"), timeout=10)
    assert resp.node.text == "zebra crossing" and resp.version == 1


def test_get_subtree(client, doc):
    (a,) = client.get_subtree(doc, "a")
    assert [c.node_id for c in a.children] == ["a1", "a2"]
    assert a.children[0].children[0].node_id == "a1x" and a.text == ""
    (a,) = client.get_subtree(doc, "a", max_depth=1)
    assert a.children == [] and a.has_children
    (a,) = client.get_subtree(doc, "a", max_depth=2)
    assert [c.node_id for c in a.children] == ["a1", "a2"]
    assert a.children[0].children == [] and a.children[0].has_children
    roots = client.get_subtree(doc)
    assert [r.node_id for r in roots] == ["a", "b"]
    assert sum(1 for r in roots for _ in r.walk()) == 5
    (a,) = client.get_subtree(doc, "a", include_text=True)
    assert a.text == "alpha text"
    with pytest.raises(NotFound):
        client.get_subtree(doc, "nope")


def test_get_children(client, doc):
    assert [n.node_id for n in client.get_children(doc)] == ["a", "b"]
    kids = client.get_children(doc, "a")
    assert [(n.node_id, n.position, n.parent_id) for n in kids] == [("a1", 0, "a"), ("a2", 1, "a")]
    p1 = client.get_children(doc, "a", page_size=1)
    assert [n.node_id for n in p1] == ["a1"] and p1.next_page_token
    p2 = client.get_children(doc, "a", page_size=1, page_token=p1.next_page_token)
    assert [n.node_id for n in p2] == ["a2"] and not p2.next_page_token
    assert client.get_children(doc, "b").items == []
    with pytest.raises(NotFound):
        client.get_children(doc, "nope")


def test_get_ancestors(client, doc):
    assert [n.node_id for n in client.get_ancestors(doc, "a1x")] == ["a", "a1"]
    assert [n.node_id for n in client.get_ancestors(doc, "a1x", include_self=True)] == \
        ["a", "a1", "a1x"]
    assert client.get_ancestors(doc, "a") == []
    assert all(n.text == "" for n in client.get_ancestors(doc, "a1x", include_self=True))
    with pytest.raises(NotFound):
        client.get_ancestors(doc, "nope")


# ----------------------------------------------------------------------------- node writes


def test_insert_node(client, doc):
    r = client.insert_node(doc, "a", {"node_id": "a3", "title": "Alpha three"})
    assert r.version.version == 2 and r.count == 1
    assert r.node.parent_id == "a" and r.node.position == 2
    r = client.insert_node(doc, "a", NodeInput("a0", title="first", children=[
        NodeInput("a0x"), NodeInput("a0y")]), position=0, message="front")
    assert r.count == 3 and r.node.position == 0 and r.version.message == "front"
    assert [n.node_id for n in client.get_children(doc, "a")] == ["a0", "a1", "a2", "a3"]
    assert client.get_node(doc, "a2").position == 2
    r = client.insert_node(doc, "", {"node_id": "top"})
    assert r.node.parent_id == "" and r.node.position == 2
    with pytest.raises(AlreadyExists):
        client.insert_node(doc, "a", {"node_id": "a1"})
    with pytest.raises(NotFound):
        client.insert_node(doc, "nope", {"node_id": "q"})
    with pytest.raises(InvalidArgument) as info:
        client.insert_node(doc, "b", {"node_id": "q"}, position=5)
    assert "position" in info.value.details
    with pytest.raises(NotFound):
        client.insert_node(doc + "-missing", "", {"node_id": "q"})
    assert client.get_document(doc)[0].node_count == 10


def test_update_node(client, doc):
    r = client.update_node(doc, "a", title="Alpha!", start_page=None, message="edit")
    assert r.version.version == 2 and r.node.title == "Alpha!"
    n = client.get_node(doc, "a")
    assert n.title == "Alpha!" and n.start_page is None and n.end_page == 10
    assert n.summary == "about alpha" and n.text == "alpha text"  # not in the mask
    client.update_node(doc, "a", summary="", extra={"k": [1, 2]}, line_num=7)
    n = client.get_node(doc, "a")
    assert n.summary == "" and n.extra == {"k": [1, 2]} and n.line_num == 7
    assert client.get_node(doc, "a", version=1).title == "Alpha chapter"
    with pytest.raises(NotFound):
        client.update_node(doc, "nope", title="x")
    # server-side validation of the mask
    req = pb.UpdateNodeRequest(doc_id=doc, node_id="a")
    assert raw_code(raw(client).UpdateNode, req) == grpc.StatusCode.INVALID_ARGUMENT
    req.update_mask.paths.append("node_id")
    assert raw_code(raw(client).UpdateNode, req) == grpc.StatusCode.INVALID_ARGUMENT
    req = pb.UpdateNodeRequest(doc_id=doc, node_id="a", node=pb.NodeInput(
        title="t", children=[pb.NodeInput(node_id="c")]))
    req.update_mask.paths.append("title")
    assert raw_code(raw(client).UpdateNode, req) == grpc.StatusCode.INVALID_ARGUMENT
    req = pb.UpdateNodeRequest(doc_id=doc, node_id="a", node=pb.NodeInput(
        title="all", summary="s", text="t", start_page=1, end_page=2, extra_json=""))
    req.update_mask.paths.append("*")
    raw(client).UpdateNode(req, timeout=10)
    n = client.get_node(doc, "a")
    assert (n.title, n.summary, n.text, n.start_page, n.end_page, n.line_num, n.extra_json) == \
        ("all", "s", "t", 1, 2, None, "")


def test_move_node(client, doc):
    r = client.move_node(doc, "a2", "b")
    assert r.node.parent_id == "b" and r.node.position == 0 and r.version.version == 2
    assert [n.node_id for n in client.get_children(doc, "a")] == ["a1"]
    r = client.move_node(doc, "a1x", "", position=0)
    assert [n.node_id for n in client.get_children(doc)] == ["a1x", "a", "b"]
    r = client.move_node(doc, "a1x", "b", position=1)
    assert [n.node_id for n in client.get_children(doc, "b")] == ["a2", "a1x"]
    with pytest.raises(FailedPrecondition):
        client.move_node(doc, "a", "a1")
    with pytest.raises(FailedPrecondition):
        client.move_node(doc, "a", "a")
    with pytest.raises(NotFound):
        client.move_node(doc, "a", "nope")
    with pytest.raises(InvalidArgument):
        client.move_node(doc, "a", "b", position=9)
    # moving a subtree keeps its descendants
    client.move_node(doc, "b", "a")
    assert [n.node_id for n in client.get_ancestors(doc, "a1x")] == ["a", "b"]


def test_delete_node(client, doc):
    r = client.delete_node(doc, "a1", message="drop")
    assert r.count == 2 and r.version.version == 2
    with pytest.raises(NotFound):
        client.get_node(doc, "a1x")
    assert client.get_node(doc, "a2").position == 0
    assert client.get_document(doc)[0].node_count == 3
    assert client.get_node(doc, "a1x", version=1).title == "Deep leaf"
    with pytest.raises(NotFound):
        client.delete_node(doc, "a1")


# ------------------------------------------------------------------------- search, history


def test_search_nodes(client, doc, uid):
    hits = client.search_nodes("ZEBRA", doc_id=doc)
    assert [(h.doc_id, h.node_id) for h in hits] == [(doc, "a1x")]
    assert "zebra" in hits[0].snippet.lower() and hits[0].title == "Deep leaf"
    assert {h.node_id for h in client.search_nodes("alpha", doc_id=doc)} >= {"a", "a1", "a2"}
    assert [h.node_id for h in client.search_nodes("alpha one", doc_id=doc)] == ["a1"]
    assert client.search_nodes("alpha zebra-nothing", doc_id=doc).items == []
    titled = client.search_nodes("alpha", doc_id=doc).items
    # ordered by (doc_id, node_id) so that pages follow each other; score counts occurrences
    assert [(h.doc_id, h.node_id) for h in titled] == sorted((h.doc_id, h.node_id) for h in titled)
    assert all(h.score >= 1 for h in titled)
    other = f"{uid}-other"
    client.put_document(other, [{"node_id": "o", "title": "zebra elsewhere"}])
    assert {h.doc_id for h in client.search_nodes("zebra")} >= {doc, other}
    page = client.search_nodes("alpha", doc_id=doc, limit=1)
    assert len(page) == 1 and page.next_page_token
    assert [h.node_id for h in client.iter_search("alpha", doc_id=doc, limit=1)] == \
        [h.node_id for h in client.search_nodes("alpha", doc_id=doc)]
    assert len(list(client.iter_search("alpha", doc_id=doc, limit=1, max_hits=2))) == 2
    assert raw_code(raw(client).SearchNodes, pb.SearchNodesRequest(query="  ")) == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_read_at_version_and_time(client, doc):
    v1 = client.list_versions(doc)[0]
    time.sleep(0.01)
    v2 = client.update_node(doc, "a", title="later").version
    assert client.get_node(doc, "a", version=1).title == "Alpha chapter"
    assert client.get_node(doc, "a", version=0).title == "later"
    assert client.get_node(doc, "a", as_of=v1.commit_time).title == "Alpha chapter"
    assert client.get_node(doc, "a", as_of=v2.commit_time).title == "later"
    assert client.get_document(doc, version=1)[0].version == 1
    with pytest.raises(NotFound):
        client.get_node(doc, "a", version=99)
    with pytest.raises(NotFound):
        client.get_node(doc, "a", as_of=v1.commit_time - 1)
    with pytest.raises(InvalidArgument):
        client.get_node(doc, "a", version=1, transaction_id="x")  # client-side check
    req = pb.GetNodeRequest(doc_id=doc, node_id="a", transaction_id="x",
                            read_at=pb.ReadAt(version=1))
    assert raw_code(raw(client).GetNode, req) == grpc.StatusCode.INVALID_ARGUMENT


def test_effective_axis(client, uid, fixture_files):
    fed19 = next(p for p in fixture_files if "2019" in p.name)
    fed23 = next(p for p in fixture_files if "2023" in p.name)
    doc = f"{uid}-fed"
    ingest(client, fed19, doc_id=doc, effective_time="2019-12-31")
    ingest(client, fed23, doc_id=doc, overwrite=True, effective_time="2023-12-31")
    v = client.get_version_as_of(doc, "2021-06-30", axis="effective")
    assert v.version == 1
    assert client.get_version_as_of(doc, "2024-01-01", axis="effective").version == 2
    with pytest.raises(NotFound):
        client.get_version_as_of(doc, "2019-01-01", axis="effective")
    # back-dated correction of the 2019 edition: in force from 2020-06-30
    client.update_node(doc, "0000", title="Cover (corrected)", effective_time="2020-06-30")
    # version 3 is based on the 2023 tree, but its effective time is 2020-06-30
    assert client.get_version_as_of(doc, "2021-06-30", axis="effective").version == 3
    assert client.get_version_as_of(doc, "2020-01-01", axis="effective").version == 1
    # commit axis: the latest commit
    assert client.get_version_as_of(doc, datetime.now(timezone.utc)).version == 3
    # tie on effective time: the greatest version wins
    client.update_node(doc, "0000", title="tie", effective_time="2020-06-30")
    assert client.get_version_as_of(doc, "2020-07-01", axis="effective").version == 4
    assert client.get_node(doc, "0000", as_of="2020-07-01", axis="effective").title == "tie"
    assert export_document(client, doc, as_of="2020-01-01", axis="effective") == \
        json.loads(fed19.read_text(encoding="utf-8"))


def test_imported_commit_time(client, uid):
    doc = f"{uid}-imported"
    client.put_document(doc, [{"node_id": "a", "title": "A"}], commit_time="2020-01-01")
    client.put_document(doc, [{"node_id": "a", "title": "A2"}], overwrite=True,
                        commit_time="2021-01-01", effective_time="2019-06-30")
    versions = client.list_versions(doc).items
    assert [v.commit_dt.year for v in versions] == [2020, 2021]
    assert client.get_version_as_of(doc, "2020-12-31").version == 1
    assert client.get_node(doc, "a", as_of="2021-01-02").title == "A2"
    # not after the last commit, not in the future, not in a transaction
    for bad in ("2020-06-30", "2999-01-01"):
        with pytest.raises(InvalidArgument, match="commit_time"):
            client.put_document(doc, [{"node_id": "a", "title": "A3"}], overwrite=True,
                                commit_time=bad)
    txn = client.begin_transaction(doc).transaction_id
    with pytest.raises(InvalidArgument, match="commit_time"):
        client.put_document(doc, [], overwrite=True, transaction_id=txn,
                            commit_time="2022-01-01")
    client.rollback_transaction(txn)
    assert len(client.list_versions(doc).items) == 2


def test_diff_versions(client, doc):
    client.insert_node(doc, "b", {"node_id": "b1"})           # v2
    client.update_node(doc, "a1", title="changed", text="t")  # v3
    client.move_node(doc, "a2", "b")                          # v4
    client.delete_node(doc, "a1x")                            # v5
    d = client.diff_versions(doc, 1, 5)
    assert (d.from_version, d.to_version) == (1, 5)
    assert d.added == ["b1"] and d.removed == ["a1x"]
    assert [(c.node_id, c.fields) for c in d.changed] == [("a1", ["title", "text"])]
    moved = {m.node_id: m for m in d.moved}
    assert (moved["a2"].old_parent_id, moved["a2"].old_position) == ("a", 1)
    assert moved["a2"].new_parent_id == "b"
    assert client.diff_versions(doc, 1).to_version == 5
    assert client.diff_versions(doc, 3, 3).empty
    rev = client.diff_versions(doc, 5, 1)
    assert rev.added == ["a1x"] and rev.removed == ["b1"]
    with pytest.raises(NotFound):
        client.diff_versions(doc, 1, 42)


# ----------------------------------------------------------------------- cross references


def test_cross_references(client, doc, uid):
    other = f"{uid}-other"
    client.put_document(other, [{"node_id": "o1"}, {"node_id": "o2"}])
    ref = client.add_cross_reference(doc, "a1", other, "o1", kind="cites", label="see o1")
    assert ref.created_at > 0 and ref.kind == "cites"
    client.add_cross_reference(other, "o1", other, "o2", kind="cites")
    client.add_cross_reference(doc, "a1", doc, "b", kind="defines")
    with pytest.raises(AlreadyExists):
        client.add_cross_reference(doc, "a1", other, "o1", kind="cites")
    client.add_cross_reference(doc, "a1", other, "o1", kind="amends")  # other kind: allowed
    with pytest.raises(NotFound):
        client.add_cross_reference(doc, "a1", other, "nope")
    with pytest.raises(NotFound):
        client.add_cross_reference(doc, "nope", other, "o1")

    out = client.get_cross_references(doc, "a1")
    assert {(r.to_doc_id, r.to_node_id, r.kind, r.hops) for r in out} == {
        (other, "o1", "cites", 1), (doc, "b", "defines", 1), (other, "o1", "amends", 1)}
    two = client.get_cross_references(doc, "a1", max_hops=2, kind="cites")
    assert [(r.to_node_id, r.hops) for r in two] == [("o1", 1), ("o2", 2)]
    inc = client.get_cross_references(other, "o1", direction="incoming")
    assert {(r.from_doc_id, r.from_node_id) for r in inc} == {(doc, "a1")}
    both = client.get_cross_references(other, "o1", direction="both")
    assert len(both) == 3
    whole = client.get_cross_references(doc)  # every node of the document
    assert len(whole) == 3
    assert raw_code(raw(client).GetCrossReferences,
                    pb.GetCrossReferencesRequest(doc_id=doc, node_id="a1", max_hops=9)) == \
        grpc.StatusCode.INVALID_ARGUMENT

    client.remove_cross_reference(doc, "a1", other, "o1", kind="amends")
    with pytest.raises(NotFound):
        client.remove_cross_reference(doc, "a1", other, "o1", kind="amends")
    # deleting an endpoint removes its references
    client.delete_node(other, "o1")
    assert client.get_cross_references(doc, "a1", kind="cites").items == []


# ---------------------------------------------------------------------------- tool results


def test_tool_results(client, doc):
    args = {"doc_id": doc, "depth": 2, "nested": {"b": 1, "a": 2}}
    st = client.store_tool_result("pi_search", args, {"tree": [1, 2]}, depends_on=[doc])
    assert st.args_json == '{"depth":2,"doc_id":"%s","nested":{"a":2,"b":1}}' % doc
    assert st.expires_at - st.stored_at == 3600 * 1_000_000
    assert st.depends_on[0].doc_id == doc and st.depends_on[0].version == 1
    # key order and whitespace do not matter
    hit = client.get_tool_result("pi_search", args_json='{ "nested": {"a":2, "b":1}, '
                                                        '"depth": 2, "doc_id": "%s" }' % doc)
    assert hit.hit and hit.result == {"tree": [1, 2]} and hit.miss_reason is None
    miss = client.get_tool_result("pi_search", {"doc_id": doc})
    assert not miss.hit and miss.miss_reason == "not_found"
    assert client.get_tool_result("other_tool", args).miss_reason == "not_found"
    # a new version of a dependency makes it stale
    client.update_node(doc, "a", title="x")
    stale = client.get_tool_result("pi_search", args)
    assert not stale.hit and stale.miss_reason == "stale"
    # replacing the entry makes it fresh again
    client.store_tool_result("pi_search", args, {"tree": [3]}, depends_on=[(doc, 0)])
    assert client.get_tool_result("pi_search", args).result == {"tree": [3]}
    with pytest.raises(InvalidArgument):
        client.store_tool_result("t", args_json="{bad", result={})  # client-side check
    assert raw_code(raw(client).StoreToolResult,
                    pb.StoreToolResultRequest(tool_name="t", args_json="{bad",
                                              result_json="1")) == \
        grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(NotFound):
        client.store_tool_result("t", {}, 1, depends_on=[doc + "-missing"])


def test_tool_result_ttl_and_delete(client, doc):
    client.store_tool_result("ttl", {"x": 1}, "r", ttl_seconds=1)
    assert client.get_tool_result("ttl", {"x": 1}).hit
    time.sleep(1.5)
    assert client.get_tool_result("ttl", {"x": 1}).miss_reason == "expired"
    client.store_tool_result("dep", {"x": 1}, "r", depends_on=[doc])
    client.delete_document(doc)
    assert client.get_tool_result("dep", {"x": 1}).miss_reason == "stale"
    # re-creating the document does not revive it
    client.put_document(doc, [])
    assert client.get_tool_result("dep", {"x": 1}).miss_reason == "stale"


# ---------------------------------------------------------------------------- transactions


def test_transaction_commit(client, doc):
    with client.transaction(doc, message="batch", effective_time="2022-01-01") as tx:
        assert tx.snapshot_version == 1
        w = tx.insert_node("a", {"node_id": "a3", "title": "new"})
        assert w.version.version == 0 and not w.version.committed
        tx.update_node("b", title="B!")
        tx.delete_node("a1")
        # own writes visible inside, not outside
        assert tx.get_node("a3").title == "new"
        assert [n.node_id for n in tx.get_children("a")] == ["a2", "a3"]
        with pytest.raises(NotFound):
            client.get_node(doc, "a3")
    assert tx.version.version == 2 and tx.version.message == "batch"
    assert tx.version.effective_dt == datetime(2022, 1, 1, tzinfo=timezone.utc)
    assert client.get_node(doc, "a3").title == "new"
    assert [v.version for v in client.iter_versions(doc)] == [1, 2]


def test_transaction_rollback(client, doc):
    with pytest.raises(RuntimeError):
        with client.transaction(doc) as tx:
            tx.update_node("a", title="never")
            raise RuntimeError("abort")
    assert client.get_node(doc, "a").title == "Alpha chapter"
    assert client.get_document(doc)[0].version == 1
    with pytest.raises(NotFound):
        client.commit_transaction(tx.transaction_id)


def test_transaction_conflict(client, doc):
    t1 = client.begin_transaction(doc)
    t2 = client.begin_transaction(doc)
    client.update_node(doc, "a", title="t1", transaction_id=t1.transaction_id)
    client.update_node(doc, "a", title="t2", transaction_id=t2.transaction_id)
    assert client.commit_transaction(t1.transaction_id).version == 2
    with pytest.raises(Conflict):
        client.commit_transaction(t2.transaction_id)
    # a plain write to a node the transaction wrote also conflicts
    with pytest.raises(Conflict):
        with client.transaction(doc) as tx:
            tx.update_node("a", title="tx")
            client.update_node(doc, "a", title="outside")
    assert client.get_node(doc, "a").title == "outside"
    # conflicts are detected per node: a change to another node does not abort
    t3 = client.begin_transaction(doc)
    client.update_node(doc, "b", title="t3", transaction_id=t3.transaction_id)
    client.update_node(doc, "a", title="outside again")
    assert client.commit_transaction(t3.transaction_id).version == 5
    assert client.get_node(doc, "b").title == "t3"


def test_transaction_creates_document(client, uid):
    doc = f"{uid}-new"
    with client.transaction(doc) as tx:
        assert tx.snapshot_version == 0
        tx.put_document([{"node_id": "r"}], name="made in tx")
        tx.insert_node("r", {"node_id": "c"})
    assert tx.version.version == 1
    assert client.get_document(doc)[0].node_count == 2


def test_transaction_errors(client, doc, uid):
    with pytest.raises(NotFound):
        client.commit_transaction("no-such-transaction")
    with pytest.raises(NotFound):
        client.rollback_transaction("no-such-transaction")
    with pytest.raises(NotFound):
        client.update_node(doc, "a", title="x", transaction_id="no-such-transaction")
    other = f"{uid}-o"
    client.put_document(other, [{"node_id": "a"}])
    t = client.begin_transaction(doc)
    with pytest.raises(InvalidArgument) as info:  # a transaction of another document
        client.update_node(other, "a", title="x", transaction_id=t.transaction_id)
    assert "doc_id" in info.value.details
    client.rollback_transaction(t.transaction_id)
    empty = client.begin_transaction(doc)
    assert client.commit_transaction(empty.transaction_id).version == 1  # no writes: no version
    t = client.begin_transaction(doc, timeout_ms=300)
    time.sleep(1.5)
    with pytest.raises(NotFound):  # timed out: the transaction is gone
        client.update_node(doc, "a", title="late", transaction_id=t.transaction_id)
    with pytest.raises(InvalidArgument):
        client.begin_transaction(doc, timeout_ms=300_001)
    assert client.stats().active_transactions >= 0


# ------------------------------------------------------------------------------ deadlines


def test_deadline_exceeded(client, uid):
    doc = f"{uid}-slow"
    client.put_document(doc, [{"node_id": f"n{i}", "text": "x" * 1_000_000} for i in range(12)],
                        timeout=60)
    with pytest.raises(DeadlineExceeded):
        client.get_subtree(doc, include_text=True, timeout=0.001)
    with pytest.raises(DeadlineExceeded):
        client.health(timeout=0)
    assert client.health().serving  # the connection is still usable


# ------------------------------------------------------------------------------ durability


def test_data_survives_restart(server_factory, tmp_path, fixture_files):
    data = tmp_path / "persist"
    srv = server_factory(data)
    path = fixture_files[0]
    with TreeStoreClient(srv.address) as c:
        ingest(c, path, doc_id="persist")
        c.update_node("persist", load_pageindex(path).roots[0].node_id, title="edited")
        versions_before = [v.version for v in c.iter_versions("persist")]
    assert srv.stop() == 0, srv.log_tail()
    # a stopped server: reads are retried, then Unavailable; writes fail at once
    with TreeStoreClient(srv.address, timeout=2) as c:
        with pytest.raises(Unavailable):
            c.get_node("persist", "0000")
        with pytest.raises(Unavailable):
            c.update_node("persist", "0000", title="x")
    srv2 = server_factory(data)
    with TreeStoreClient(srv2.address) as c:
        assert [v.version for v in c.iter_versions("persist")] == versions_before == [1, 2]
        assert export_document(c, "persist", version=1) == \
            json.loads(path.read_text(encoding="utf-8"))
        assert c.health().serving

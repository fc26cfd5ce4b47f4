"""Node views against the real server: every field and every loaded child as the raw stub
returns them (marker ``server``)."""

from __future__ import annotations

import pickle

import pytest

from treestore import AsyncTreeStoreClient, Node
from treestore._proto import treestore_pb2 as pb
from treestore.pageindex import ingest

pytestmark = pytest.mark.server

PLAIN = ("node_id", "parent_id", "position", "title", "summary", "text", "extra_json",
         "has_children")
OPTIONAL = ("start_page", "end_page", "line_num")


def assert_same(node: Node, m: pb.Node) -> int:
    """Compare a view with the raw message, recursively; returns the nodes compared."""
    for name in PLAIN:
        assert getattr(node, name) == getattr(m, name), (m.node_id, name)
    for name in OPTIONAL:
        expected = getattr(m, name) if m.HasField(name) else None
        assert getattr(node, name) == expected, (m.node_id, name)
    assert [c.node_id for c in node.children] == [c.node_id for c in m.children], m.node_id
    return 1 + sum(assert_same(c, cm) for c, cm in zip(node.children, m.children))


def preorder(msgs) -> list[str]:
    out: list[str] = []
    for m in msgs:
        out.append(m.node_id)
        out.extend(preorder(m.children))
    return out


@pytest.fixture()
def big_doc(client, uid, fixture_files) -> str:
    """The largest fixture, stored."""
    path = max(fixture_files, key=lambda p: p.stat().st_size)
    doc_id = f"{uid}-views"
    ingest(client, path, doc_id=doc_id)
    return doc_id


def test_subtree_views_equal_the_raw_response(client, big_doc):
    stub = client._stub
    for depth in (0, 1, 2):
        raw = stub.GetSubtree(pb.GetSubtreeRequest(doc_id=big_doc, max_depth=depth,
                                                   include_text=True), timeout=30)
        roots = client.get_subtree(big_doc, max_depth=depth, include_text=True)
        assert len(roots) == len(raw.roots)
        compared = sum(assert_same(n, m) for n, m in zip(roots, raw.roots))
        assert [n.node_id for r in roots for n in r.walk()] == preorder(raw.roots)
        assert compared == len(preorder(raw.roots))
        if depth == 1:  # children not loaded, has_children still tells
            assert all(r.children == [] for r in roots) and any(r.has_children for r in roots)
    doc, tree = client.get_tree(big_doc)
    raw_doc = stub.GetDocument(pb.GetDocumentRequest(doc_id=big_doc, include_tree=True),
                               timeout=30)
    assert sum(assert_same(n, m) for n, m in zip(tree, raw_doc.roots)) == doc.node_count
    assert tree == client.get_subtree(big_doc)  # same document, same values


def test_point_reads_equal_the_raw_response(client, big_doc):
    stub = client._stub
    roots = client.get_subtree(big_doc)
    nodes = [n for r in roots for n in r.walk()]
    leaf = max(nodes, key=lambda n: len(client.get_ancestors(big_doc, n.node_id)))
    parent = next(n for n in nodes if len(n.children) > 1)
    raw_node = stub.GetNode(pb.GetNodeRequest(doc_id=big_doc, node_id=leaf.node_id), timeout=30)
    assert_same(client.get_node(big_doc, leaf.node_id), raw_node.node)
    raw_kids = stub.GetChildren(pb.GetChildrenRequest(doc_id=big_doc, node_id=parent.node_id),
                                timeout=30)
    kids = client.get_children(big_doc, parent.node_id)
    assert len(kids) == len(raw_kids.children) == len(parent.children)
    for n, m in zip(kids, raw_kids.children):
        assert_same(n, m)
    raw_path = stub.GetAncestors(pb.GetAncestorsRequest(doc_id=big_doc, node_id=leaf.node_id,
                                                        include_self=True), timeout=30)
    path = client.get_ancestors(big_doc, leaf.node_id, include_self=True)
    assert [n.node_id for n in path] == [m.node_id for m in raw_path.ancestors]
    for n, m in zip(path, raw_path.ancestors):
        assert_same(n, m)
    assert path[-1].node_id == leaf.node_id and path[0].parent_id == ""


def test_views_survive_the_client_and_pickle(server, big_doc):
    from treestore import TreeStoreClient

    with TreeStoreClient(server.address) as c:
        roots = c.get_subtree(big_doc, include_text=True)
    # the channel is closed: the nodes are values that do not depend on it
    count = sum(1 for r in roots for _ in r.walk())
    assert count > 10
    assert pickle.loads(pickle.dumps(roots)) == roots
    edited = roots[0].replace(title="edited")
    assert edited.title == "edited" and roots[0].title != "edited"
    assert edited.children == roots[0].children


async def test_async_views_equal_the_raw_response(server, client, big_doc):
    raw = client._stub.GetSubtree(pb.GetSubtreeRequest(doc_id=big_doc), timeout=30)
    async with AsyncTreeStoreClient(server.address, timeout=30) as c:
        roots = await c.get_subtree(big_doc)
        assert sum(assert_same(n, m) for n, m in zip(roots, raw.roots)) == \
            len(preorder(raw.roots))
        first = roots[0]
        node = await c.get_node(big_doc, first.node_id, include_text=False)
        assert node == first.replace(children=[])
        kids = await c.get_children(big_doc, first.node_id)
        # get_children does not load grandchildren: equal to the subtree's children without
        assert kids.items == [k.replace(children=[]) for k in first.children]


def test_views_of_transaction_and_old_version_reads(client, uid):
    """has_children (which the views trust to find loaded children) is set on every read
    path: a transaction's own writes and an old version."""
    doc = f"{uid}-txviews"
    client.put_document(doc, [{"node_id": "r", "title": "root",
                               "children": [{"node_id": "leaf", "title": "leaf"}]}])
    with client.transaction(doc) as tx:
        tx.insert_node("leaf", {"node_id": "new", "title": "new child",
                                "children": [{"node_id": "newer"}]})
        (sub,) = tx.get_subtree("r")
        assert [n.node_id for n in sub.walk()] == ["r", "leaf", "new", "newer"]
        raw = client._stub.GetSubtree(pb.GetSubtreeRequest(
            doc_id=doc, node_id="r", transaction_id=tx.transaction_id), timeout=30)
        assert assert_same(sub, raw.roots[0]) == 4
    (v1,) = client.get_subtree(doc, "r", version=1)
    (v2,) = client.get_subtree(doc, "r")
    assert [n.node_id for n in v1.walk()] == ["r", "leaf"]
    assert [n.node_id for n in v2.walk()] == ["r", "leaf", "new", "newer"]
    assert v1 != v2 and v1.children[0].has_children is False
    assert v2.children[0].has_children is True


def test_cli_get_prints_node_views(server, client, uid, capsys):
    """treestore-cli get (outline and --json) over views."""
    import json as _json

    from treestore.cli import main

    doc = f"{uid}-cli"
    client.put_document(doc, [{"node_id": "r", "title": "Root", "start_page": 1, "end_page": 3,
                               "children": [{"node_id": "c", "title": "Child",
                                             "extra": {"k": 1}}]}])
    assert main(["--addr", server.address, "get", doc, "--json"]) == 0
    out = _json.loads(capsys.readouterr().out)
    (root,) = out["nodes"]
    assert root["node_id"] == "r" and root["start_page"] == 1 and root["line_num"] is None
    assert root["children"][0]["title"] == "Child" and root["has_children"] is True
    assert root["children"][0]["extra_json"] == '{"k":1}'
    assert main(["--addr", server.address, "get", doc, "--depth", "1"]) == 0
    outline = capsys.readouterr().out
    assert "r  Root  [p. 1-3]  (+)" in outline and "Child" not in outline

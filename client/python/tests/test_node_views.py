"""Node as an immutable view over the response message (no server needed)."""

from __future__ import annotations

import copy
import json
import pickle

import pytest

from treestore import Node, NodeInput, NodeList
from treestore import _calls
from treestore._proto import treestore_pb2 as pb
from treestore.pageindex import to_pageindex
from treestore.types import Document

OPTIONAL = ("start_page", "end_page", "line_num")
PLAIN = ("node_id", "parent_id", "position", "title", "summary", "text", "extra_json",
         "has_children")


def response() -> pb.GetSubtreeResponse:
    """A parsed GetSubtreeResponse as the server sends it: two roots, nested children,
    optional fields set (to 0 too), unset, a child list not loaded (has_children only)."""
    resp = pb.GetSubtreeResponse(version=4)
    a = resp.roots.add(node_id="a", title="Alpha", summary="about a", start_page=0, end_page=9,
                       extra_json='{"k":[1,2]}', has_children=True)
    a1 = a.children.add(node_id="a1", parent_id="a", title="A one", line_num=3,
                        has_children=True)
    a1.children.add(node_id="a1x", parent_id="a1", text="leaf text", start_page=-2)
    a.children.add(node_id="a2", parent_id="a", position=1, title="A two", end_page=7)
    a.children.add(node_id="a3", parent_id="a", position=2, has_children=True)  # not loaded
    resp.roots.add(node_id="b", position=1, title="Beta")
    return pb.GetSubtreeResponse.FromString(resp.SerializeToString())


def messages_preorder(msgs) -> list[pb.Node]:
    out: list[pb.Node] = []
    for m in msgs:
        out.append(m)
        out.extend(messages_preorder(m.children))
    return out


def subtree(resp: pb.GetSubtreeResponse) -> list[Node]:
    """What TreeStoreClient.get_subtree returns for ``resp``."""
    return _calls.get_subtree("doc").parse(resp)


def assert_same(node: Node, m: pb.Node) -> None:
    for name in PLAIN:
        assert getattr(node, name) == getattr(m, name), name
    for name in OPTIONAL:
        assert getattr(node, name) == (getattr(m, name) if m.HasField(name) else None), name
    assert len(node.children) == len(m.children)
    for child, cm in zip(node.children, m.children):
        assert_same(child, cm)


def test_fields_equal_the_message():
    resp = response()
    roots = subtree(resp)
    assert len(roots) == 2
    for node, m in zip(roots, resp.roots):
        assert_same(node, m)
    a = roots[0]
    assert a.start_page == 0 and a.end_page == 9 and a.line_num is None  # 0 is not None
    assert a.extra == {"k": [1, 2]}
    assert a.children[0].line_num == 3 and a.children[0].start_page is None
    assert a.children[0].children[0].start_page == -2
    assert roots[1].extra == {} and roots[1].children == [] and not roots[1].has_children
    # has_children without loaded children: an empty list, has_children still tells
    assert a.children[2].children == [] and a.children[2].has_children


def test_children_order_and_walk_order():
    resp = response()
    roots = subtree(resp)
    assert [c.node_id for c in roots[0].children] == ["a1", "a2", "a3"]
    walked = [n.node_id for r in roots for n in r.walk()]
    assert walked == [m.node_id for m in messages_preorder(resp.roots)]
    assert walked == ["a", "a1", "a1x", "a2", "a3", "b"]
    assert [n.node_id for n in roots[0].children[0].walk()] == ["a1", "a1x"]


def test_every_read_returns_a_node_view():
    resp = pb.GetChildrenResponse(children=[pb.Node(node_id="x", start_page=1)],
                                  next_page_token="t")
    page = _calls.get_children("doc").parse(resp)
    assert page.next_page_token == "t" and page[0] == Node("x", start_page=1)
    node = _calls.get_node("doc", "x").parse(pb.GetNodeResponse(node=pb.Node(node_id="x")))
    assert isinstance(node, Node) and node.node_id == "x"
    ancestors = _calls.get_ancestors("doc", "x").parse(
        pb.GetAncestorsResponse(ancestors=[pb.Node(node_id="r"), pb.Node(node_id="p")]))
    assert [n.node_id for n in ancestors] == ["r", "p"]
    doc, roots = _calls.get_document("doc").parse(
        pb.GetDocumentResponse(document=pb.Document(doc_id="doc"), roots=response().roots))
    assert doc.doc_id == "doc" and [n.node_id for n in roots] == ["a", "b"]
    res = _calls.update_node("doc", "x", title="T").parse(
        pb.UpdateNodeResponse(node=pb.Node(node_id="x", title="T")))
    assert res.node == Node("x", title="T")


def test_equality_with_constructed_nodes():
    roots = subtree(response())
    b = roots[1]
    assert b == Node("b", position=1, title="Beta")
    assert b != Node("b", position=1, title="beta")
    assert b != Node("b", position=1, title="Beta", start_page=0)  # unset is not 0
    leaf = roots[0].children[0].children[0]
    assert leaf == Node("a1x", parent_id="a1", text="leaf text", start_page=-2)
    a1 = Node("a1", parent_id="a", title="A one", line_num=3, has_children=True,
              children=[leaf])
    assert roots[0].children[0] == a1
    assert roots[0].children[0] != a1.replace(children=[])
    assert roots[0] == roots[0] and subtree(response()) == roots
    assert (b == "b") is False and b != "b"
    with pytest.raises(TypeError):
        hash(b)


def test_children_compare_like_lists():
    roots = subtree(response())
    b = roots[1]
    assert b.children == [] and [] == b.children and not (b.children != [])
    assert b.children == () and isinstance(b.children, NodeList)
    kids = roots[0].children
    assert kids != [] and kids == list(kids) and list(kids) == kids
    assert kids[1:] == [kids[1], kids[2]] and isinstance(kids[1:], NodeList)
    assert kids[::-1] == [kids[2], kids[1], kids[0]]
    assert kids + [b] == [*kids, b] == list(kids) + [b] and [b] + kids == [b, *kids]
    assert isinstance(kids + [b], list) and kids + b.children == list(kids)
    assert len(kids) == 3 and kids[-1].node_id == "a3" and kids[0] in kids
    assert repr(b.children) == "[]"


def test_nodes_are_immutable_values():
    resp = response()
    roots = subtree(resp)
    a = roots[0]
    with pytest.raises(AttributeError):
        a.title = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a.children = []  # type: ignore[misc]
    with pytest.raises(AttributeError):
        a.something = 1  # type: ignore[attr-defined]
    with pytest.raises((TypeError, AttributeError)):
        a.children.append(Node("z"))  # type: ignore[attr-defined]
    # the same child object every time: nothing to diverge
    assert a.children[0] is a.children[0]
    # extra is a fresh dict
    a.extra["k"] = "mutated"
    assert a.extra == {"k": [1, 2]}
    # replace makes a new node, the original is unchanged
    renamed = a.replace(title="Renamed", start_page=None)
    assert renamed.title == "Renamed" and renamed.start_page is None
    assert renamed.children == a.children and renamed.node_id == "a"
    assert a.title == "Alpha" and a.start_page == 0
    with pytest.raises(TypeError):
        a.replace(colour="red")
    # copies are the same value
    assert copy.copy(a) is a and copy.deepcopy(a) is a and copy.deepcopy([a])[0] == a


def test_from_proto_copies_the_message():
    m = pb.Node(node_id="x", title="before")
    m.children.add(node_id="c")  # has_children left False: from_proto still shows the child
    node = Node.from_proto(m)
    m.title = "after"
    m.children[0].title = "after"
    del m.children[:]
    assert node.title == "before"
    assert [c.node_id for c in node.children] == ["c"] and node.children[0].title == ""
    assert not node.has_children


def test_constructor_copies_children():
    child = Node("c", title="child")
    parent = Node("p", children=[child], has_children=True)
    assert parent.children[0] == child and parent.children[0] is not child  # a copy
    assert parent.children == [Node("c", title="child")]
    assert Node("p", children=[child]).has_children is False  # kept as given
    with pytest.raises(TypeError):
        Node("p", children=[{"node_id": "c"}])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        Node("p", title=3)  # type: ignore[arg-type]


def test_pickle_roundtrip():
    roots = subtree(response())
    for node in roots[0].walk():
        back = pickle.loads(pickle.dumps(node))
        assert back == node and back is not node
        assert [n.node_id for n in back.walk()] == [n.node_id for n in node.walk()]
    assert pickle.loads(pickle.dumps(roots)) == roots


def test_repr_and_to_dict_keep_the_dataclass_shape():
    node = Node("a", title="T", start_page=3, children=[Node("c", parent_id="a")],
                has_children=True)
    assert repr(node) == (
        "Node(node_id='a', parent_id='', position=0, title='T', summary='', text='', "
        "start_page=3, end_page=None, line_num=None, extra_json='', children=[Node("
        "node_id='c', parent_id='a', position=0, title='', summary='', text='', "
        "start_page=None, end_page=None, line_num=None, extra_json='', children=[], "
        "has_children=False)], has_children=True)")
    d = node.to_dict()
    assert d["children"][0]["node_id"] == "c" and d["start_page"] == 3
    assert list(d) == ["node_id", "parent_id", "position", "title", "summary", "text",
                       "start_page", "end_page", "line_num", "extra_json", "children",
                       "has_children"]
    json.dumps(d)


def test_match_args():
    match Node("a", "p", 2):
        case Node(node_id, parent_id, position):
            assert (node_id, parent_id, position) == ("a", "p", 2)
        case _:
            pytest.fail("no match")


def test_coerce_to_node_input():
    roots = subtree(response())
    ni = NodeInput.coerce(roots[0])
    assert ni.node_id == "a" and ni.start_page == 0 and ni.end_page == 9
    assert ni.line_num is None and ni.extra_json == '{"k":[1,2]}'
    assert [c.node_id for c in ni.children] == ["a1", "a2", "a3"]
    assert ni.children[0].children[0].text == "leaf text"
    m = ni.to_proto()
    assert m.HasField("start_page") and m.start_page == 0 and not m.HasField("line_num")


def test_pageindex_export_from_views():
    resp = response()
    doc = Document(doc_id="doc", name="n")
    from_views = to_pageindex(doc, subtree(resp))
    from_copies = to_pageindex(doc, [Node.from_proto(m) for m in resp.roots])
    assert from_views == from_copies
    assert from_views["structure"][0]["nodes"][0]["nodes"][0]["text"] == "leaf text"
    assert from_views["structure"][0]["k"] == [1, 2]


def test_results_outlive_their_list():
    # a view keeps its message alive: dropping the response and the list is safe
    roots = subtree(response())
    leaf = roots[0].children[0].children[0]
    del roots
    import gc

    gc.collect()
    assert leaf.text == "leaf text" and leaf.parent_id == "a1"

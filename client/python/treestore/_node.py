"""``Node``: an immutable typed view over a protobuf ``treestore.v1.Node``.

A read returns the nodes of its response message without copying them: a ``Node`` reads a
field from the message when the attribute is read, and wraps ``children`` the first time
they are asked for. Turning a response of any size into its result therefore costs one
object per top-level node; the cost of a node is paid when (and only if) it is visited.

Invariants:

* ``Node._m`` is a ``pb.Node`` that nobody changes while the view exists: a message of a
  response only the client has seen, or a private copy (``from_proto``, the constructor,
  unpickling). ``Node`` has no setters, so a view is a value: it can be shared, and
  ``copy.copy``/``deepcopy`` return it unchanged.
* ``Node._kids`` caches ``children``:
  ``None``        not built yet; the message came from the server, whose nodes have
                  ``has_children`` set whenever ``children`` is filled, so a leaf is known
                  without touching its (empty) children list;
  ``_UNCHECKED``  not built yet; the message came from elsewhere (``has_children`` may be
                  anything), so the length of ``children`` decides, and the children are
                  unchecked too;
  a ``NodeList``  built.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Iterator, Optional, SupportsIndex, Union, overload

from ._proto import treestore_pb2 as pb

__all__ = ["Node", "NodeList", "FIELDS"]

#: The attributes of a Node, in constructor (and repr) order.
FIELDS = ("node_id", "parent_id", "position", "title", "summary", "text", "start_page",
          "end_page", "line_num", "extra_json", "children", "has_children")

_PbNode = pb.Node
_new = object.__new__
_UNCHECKED: Any = object()
_tuple_getitem = tuple.__getitem__
_REVERSED = slice(None, None, -1)


class NodeList(tuple["Node", ...]):
    """The children of a :class:`Node`: an immutable sequence (a ``tuple``) of Nodes that
    also compares equal to a ``list`` of equal Nodes (``node.children == []`` works)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            other = tuple(other)
        if isinstance(other, tuple):
            return tuple.__eq__(self, other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]  # Nodes are not hashable either

    @overload
    def __getitem__(self, index: SupportsIndex) -> "Node": ...

    @overload
    def __getitem__(self, index: slice) -> "NodeList": ...

    def __getitem__(self, index: Union[SupportsIndex, slice]) -> Union["Node", "NodeList"]:
        if isinstance(index, slice):
            return NodeList(_tuple_getitem(self, index))
        return _tuple_getitem(self, index)

    def __add__(self, other: Iterable["Node"]) -> list["Node"]:  # type: ignore[override]
        if isinstance(other, (list, tuple)):
            return [*self, *other]
        return NotImplemented

    def __radd__(self, other: Iterable["Node"]) -> list["Node"]:
        if isinstance(other, (list, tuple)):
            return [*other, *self]
        return NotImplemented

    def __repr__(self) -> str:
        return repr(list(self))


_NO_CHILDREN = NodeList()


def _view(m: pb.Node) -> "Node":
    """A Node over ``m``, a node of a server response (see the module invariants)."""
    node = _new(Node)
    node._m = m
    node._kids = None
    return node


def _unchecked_view(m: pb.Node) -> "Node":
    """A Node over ``m``, a private message that need not follow the server's rules."""
    node = _new(Node)
    node._m = m
    node._kids = _UNCHECKED
    return node


def _node_from_bytes(data: bytes) -> "Node":
    """Unpickle a Node (see ``Node.__reduce__``)."""
    return _unchecked_view(_PbNode.FromString(data))


class Node:
    """A node as read: immutable, fields read from the response when accessed.

    ``children`` is filled only by subtree/tree reads (``has_children`` tells whether the
    node has children even when they were not loaded). ``start_page``, ``end_page`` and
    ``line_num`` are None when unknown. Build one yourself with the same keywords as the
    attributes; change one with :meth:`replace`.
    """

    __slots__ = ("_m", "_kids")
    __match_args__ = FIELDS

    _m: pb.Node
    _kids: Union[None, NodeList, Any]

    def __init__(self, node_id: str, parent_id: str = "", position: int = 0, title: str = "",
                 summary: str = "", text: str = "", start_page: Optional[int] = None,
                 end_page: Optional[int] = None, line_num: Optional[int] = None,
                 extra_json: str = "", children: Iterable["Node"] = (),
                 has_children: bool = False) -> None:
        # None leaves a field unset (the optional ints stay None, strings "")
        m = _PbNode(node_id=node_id, parent_id=parent_id, position=position, title=title,
                    summary=summary, text=text, start_page=start_page, end_page=end_page,
                    line_num=line_num, extra_json=extra_json, has_children=has_children)
        kids = tuple(children)
        for child in kids:
            if not isinstance(child, Node):
                raise TypeError(f"Node.children: expected Node, got {type(child).__name__}")
        if kids:
            # copies: the new node holds nothing of the children's messages (detached)
            m.children.extend([child._m for child in kids])
        self._m = m
        self._kids = _UNCHECKED if kids else _NO_CHILDREN

    @classmethod
    def from_proto(cls, m: pb.Node) -> "Node":
        """A Node over a copy of ``m`` (later changes to ``m`` do not show)."""
        copy = _PbNode()
        copy.CopyFrom(m)
        return _unchecked_view(copy)

    # -- fields ---------------------------------------------------------------------------

    @property
    def node_id(self) -> str:
        """Node id, unique within its document, kept as given (e.g. ``"0007"``)."""
        return self._m.node_id

    @property
    def parent_id(self) -> str:
        """``node_id`` of the parent; ``""`` for a top-level node."""
        return self._m.parent_id

    @property
    def position(self) -> int:
        """0-based index among the siblings."""
        return self._m.position

    @property
    def title(self) -> str:
        """Section title."""
        return self._m.title

    @property
    def summary(self) -> str:
        """Section summary; ``""`` when none."""
        return self._m.summary

    @property
    def text(self) -> str:
        """Section text; ``""`` when none or when the read did not include text."""
        return self._m.text

    @property
    def start_page(self) -> Optional[int]:
        """First page, or None when unknown."""
        m = self._m
        return m.start_page if m.HasField("start_page") else None

    @property
    def end_page(self) -> Optional[int]:
        """Last page (inclusive), or None when unknown."""
        m = self._m
        return m.end_page if m.HasField("end_page") else None

    @property
    def line_num(self) -> Optional[int]:
        """Line of the heading in a markdown source, or None."""
        m = self._m
        return m.line_num if m.HasField("line_num") else None

    @property
    def extra_json(self) -> str:
        """The other keys of the source node as a JSON object text; ``""`` when none."""
        return self._m.extra_json

    @property
    def has_children(self) -> bool:
        """True when the node has children, also when they were not loaded."""
        return self._m.has_children

    @property
    def children(self) -> NodeList:
        """The loaded children in position order (empty unless a subtree/tree read)."""
        kids = self._kids
        if kids is None:
            m = self._m
            kids = self._kids = (NodeList(map(_view, m.children)) if m.has_children
                                 else _NO_CHILDREN)
        elif kids is _UNCHECKED:
            msgs = self._m.children
            kids = self._kids = (NodeList(map(_unchecked_view, msgs)) if len(msgs)
                                 else _NO_CHILDREN)
        return kids

    # -- derived --------------------------------------------------------------------------

    @property
    def extra(self) -> dict[str, Any]:
        """``extra_json`` parsed (``{}`` when empty); a new dict on every read."""
        extra_json = self._m.extra_json
        return json.loads(extra_json) if extra_json else {}

    def walk(self) -> Iterator["Node"]:
        """This node, then its loaded descendants depth-first in position order."""
        stack = [self]
        pop = stack.pop
        push = stack.extend
        while stack:
            node = pop()
            yield node
            # the ``children`` property inlined (a call per node is 15% of a walk)
            kids = node._kids
            if kids is None:
                m = node._m
                if not m.has_children:
                    continue
                kids = node._kids = NodeList(map(_view, m.children))
            elif kids is _UNCHECKED:
                kids = node.children
            if kids:
                push(_tuple_getitem(kids, _REVERSED))

    def replace(self, **changes: Any) -> "Node":
        """A new Node with the given fields changed (like ``dataclasses.replace``)."""
        unknown = set(changes).difference(FIELDS)
        if unknown:
            raise TypeError(f"Node.replace: unknown field(s) {sorted(unknown)}")
        values = {name: getattr(self, name) for name in FIELDS if name not in changes}
        values.update(changes)
        return Node(**values)

    def to_dict(self) -> dict[str, Any]:
        """Every field, ``children`` as a list of dicts (JSON-ready)."""
        out: dict[str, Any] = {name: getattr(self, name) for name in FIELDS}
        out["children"] = [child.to_dict() for child in out["children"]]
        return out

    # -- value behaviour ------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Node):
            return bool(self._m == other._m)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal by value, like 0.1.0's dataclass

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in FIELDS)
        return f"Node({fields})"

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return _node_from_bytes, (self._m.SerializeToString(),)

    def __copy__(self) -> "Node":
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> "Node":
        return self

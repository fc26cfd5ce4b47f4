"""The handlers of the ten agent tools (see ``treestore.tools`` for the set and its schemas).

A handler is a generator: it yields the client calls it needs (an :class:`Op`, or a list of
them to run together) and receives each result, so one handler serves the blocking and the
asyncio client alike (``treestore.tools`` drives it). It returns either a JSON-serialisable
value (the runner fits it to the output budget) or an already sized JSON string.

Versions: a handler first *pins* every document it reads (:func:`pin`: GetDocument of the
latest version) and records it in ``ctx.deps`` before reading, then reads at that version.
So a result is only ever cached as depending on versions that are no newer than what it
read: any later write makes the cached entry stale.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Generator, Mapping, Union

from ._tool_render import (brief, content_length, content_window, day, dumps, iso,
                           largest_fitting, pages, preview)
from .errors import InvalidArgument, NotFound
from .types import Node, to_micros


@dataclass(frozen=True)
class Op:
    """One client call a handler asks for: ``client.<method>(*args, **kwargs)``."""

    method: str
    args: tuple = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


def op(method: str, *args: Any, **kwargs: Any) -> Op:
    return Op(method, args, kwargs)


@dataclass
class Ctx:
    """What a handler knows besides its arguments."""

    #: characters the tool's output may take
    budget: int
    #: documents read -> the version pinned before reading (the cache depends on these)
    deps: dict[str, int] = field(default_factory=dict)


Steps = Generator[Union[Op, list[Op]], Any, Any]

#: Hits ranked by search_nodes at most (the server returns hits in id order, 1000 a page).
MAX_RANKED_HITS = 3000


def pin(ctx: Ctx, doc_id: str) -> Steps:
    """Resolve the latest version of ``doc_id`` (NOT_FOUND if it does not exist) and record
    it as a dependency; returns the version."""
    if doc_id not in ctx.deps:
        doc, _ = yield op("get_document", doc_id)
        ctx.deps[doc_id] = doc.version
    return ctx.deps[doc_id]


def _token(token: str, prefix: str, tool: str, parts: int = 1) -> list[int]:
    """Decode a page token made by this module (``prefix:n[:m]``)."""
    try:
        head, *nums = token.split(":")
        values = [int(x) for x in nums]
        if head != prefix or len(values) != parts or min(values) < 0:
            raise ValueError
        return values
    except ValueError:
        raise InvalidArgument(f"'page_token' {token!r} is not a token returned by {tool}; "
                              "pass next_page_token from the previous result, or \"\" for "
                              "the first page") from None


# ---------------------------------------------------------------------------------------
# pi_search: a tree sized to the budget on node boundaries
# ---------------------------------------------------------------------------------------

def _bfs(roots: list[Node]) -> list[Node]:
    """Nodes level by level, each level in document order (a prefix never holds a node
    without its parent)."""
    out, level = [], list(roots)
    while level:
        out.extend(level)
        level = [c for n in level for c in n.children]
    return out


def _render_tree(roots: list[Node], shown: set[int], summary: bool) -> list[dict[str, Any]]:
    def one(n: Node) -> dict[str, Any]:
        out = brief(n, summary=summary)
        kids = [c for c in n.children if id(c) in shown]
        if kids:
            out["children"] = [one(c) for c in kids]
        if n.children and len(kids) < len(n.children):
            out["children_omitted"] = len(n.children) - len(kids)  # cut to fit the output
        elif n.has_children and not n.children:
            out["has_children"] = True  # below the requested depth: expand with pi_search
        return out

    return [one(r) for r in roots if id(r) in shown]


def pi_search(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: PageIndex's reasoning is tree search. The model reads the outline,
    picks the section most likely to hold the answer and drills into it; this is that
    step (GetSubtree), sized to the context on node boundaries and paged over wide levels."""
    doc_id = a["doc_id"]
    version = yield from pin(ctx, doc_id)
    roots = yield op("get_subtree", doc_id, a["node_id"], max_depth=a["depth"],
                     version=version)
    start = _token(a["page_token"], "r", "pi_search")[0] if a["page_token"] else 0
    if start > len(roots):
        raise InvalidArgument(f"'page_token' is past the end ({len(roots)} sections)")
    page_roots = roots[start:]
    order = _bfs(page_roots)
    head: dict[str, Any] = {"doc_id": doc_id, "version": version}
    if a["node_id"] == "" and start:
        head["from_section"] = start

    def render(k: int) -> str:
        shown = {id(n) for n in order[:k]}
        out = dict(head, tree=_render_tree(page_roots, shown, a["include_summary"]))
        shown_roots = sum(1 for r in page_roots if id(r) in shown)
        if shown_roots < len(page_roots):
            out["next_page_token"] = f"r:{start + shown_roots}"
            out["note"] = (f"showing top-level sections {start}-{start + shown_roots - 1} of "
                           f"{len(roots)}; call again with page_token for the rest")
        elif k < len(order):
            out["note"] = ("deeper sections were left out to fit the output (see "
                           "children_omitted); call pi_search with that node_id to expand it")
        return dumps(out)

    if not order:
        return dumps(dict(head, tree=[]))  # an empty document, or a page past the end
    k = largest_fitting(1, len(order), lambda k: len(render(k)) <= ctx.budget)
    if k < 1:
        raise InvalidArgument("the output limit is too small for even one section")
    return render(k)


# ---------------------------------------------------------------------------------------
# reading content: get_node, temporal_lookup, get_page_content
# ---------------------------------------------------------------------------------------

def _windowed(make: Any, n: Node, offset: int, budget: int) -> tuple[str, int]:
    """The rendering of ``make(window)`` with the longest content window from ``offset``
    that fits ``budget``; returns (text, end of the window)."""
    total = content_length(n)

    def render(end: int) -> str:
        return dumps(make(content_window(n, offset, end), end, total))

    end = largest_fitting(offset, total, lambda e: len(render(e)) <= budget)
    if end <= offset and total > offset:
        raise InvalidArgument("the output limit is too small to show any content")
    return render(max(end, offset)), max(end, offset)


def _node_head(n: Node, version: int) -> dict[str, Any]:
    out: dict[str, Any] = {"node_id": n.node_id, "title": n.title, "version": version}
    p = pages(n)
    if p is not None:
        out["pages"] = p
    if n.line_num is not None:
        out["line"] = n.line_num
    return out


def _content_fields(window: dict[str, Any], offset: int, end: int, total: int,
                    next_hint: str) -> dict[str, Any]:
    out = dict(window)
    if offset or end < total:
        out["content_chars"] = {"from": offset, "to": end, "of": total}
    if end < total:
        out["next_offset"] = end
        out["note"] = next_hint.format(end=end)
    return out


def get_node(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: the only tool that returns a section's whole summary and text, paged
    by offset, with its breadcrumb; every other tool shows previews and points here."""
    doc_id, node_id = a["doc_id"], a["node_id"]
    latest = yield from pin(ctx, doc_id)
    version = a["version"] or latest
    node, path = yield [op("get_node", doc_id, node_id, include_text=a["include_text"],
                           version=version),
                        op("get_ancestors", doc_id, node_id, version=version)]
    offset = a["offset"]
    if offset > content_length(node):
        raise InvalidArgument(f"'offset' {offset} is past the end of the content "
                              f"({content_length(node)} characters)")
    head = _node_head(node, version)
    head["breadcrumb"] = " > ".join([p.title or p.node_id for p in path] +
                                    [node.title or node.node_id])
    head["parent_id"] = node.parent_id
    head["has_children"] = node.has_children
    hint = ("content continues: call get_node with offset={end}" +
            (f" and version={version}" if a["version"] else ""))

    def make(window: dict[str, Any], end: int, total: int) -> dict[str, Any]:
        return dict(head, **_content_fields(window, offset, end, total, hint))

    text, _ = _windowed(make, node, offset, ctx.budget)
    return text


def _first_version_note(doc_id: str, date: str, axis: str, versions: list[Any]) -> dict:
    if axis == "effective":
        first = min(versions, key=lambda v: (v.effective_time, v.version))
        when = f"took effect on {day(first.effective_time)}"
    else:
        first = versions[0]
        when = f"was committed on {iso(first.commit_time)}"
    return {"doc_id": doc_id, "date": date, "axis": axis, "version_in_force": None,
            "note": (f"{doc_id} did not exist yet on {date} ({axis} time): its earliest "
                     f"version, {first.version}, {when}. Ask about a later date."),
            "earliest_version": {"version": first.version,
                                 "effective": day(first.effective_time),
                                 "committed": iso(first.commit_time),
                                 "committed_by": first.committed_by,
                                 "message": first.message}}


def temporal_lookup(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: policies change and questions are asked "as of" a date. This answers
    which version was in force then (GetVersionAsOf, effective or commit time) and shows
    the section or outline of that version, or says that the document did not exist yet."""
    doc_id, axis = a["doc_id"], a["axis"]
    when = to_micros(a["date"], field_name="date")
    yield from pin(ctx, doc_id)
    try:
        v = yield op("get_version_as_of", doc_id, when, axis=axis)
    except NotFound:
        versions: list[Any] = []
        token = ""
        while True:
            page = yield op("list_versions", doc_id, page_size=1000, page_token=token)
            versions.extend(page.items)
            token = page.next_page_token
            if not token:
                break
        if not versions:
            raise
        return _first_version_note(doc_id, a["date"], axis, versions)
    head: dict[str, Any] = {"doc_id": doc_id, "date": a["date"], "axis": axis,
                            "version_in_force": {"version": v.version,
                                                 "effective": day(v.effective_time),
                                                 "committed": iso(v.commit_time),
                                                 "committed_by": v.committed_by,
                                                 "message": v.message}}
    if not a["node_id"]:
        roots = yield op("get_subtree", doc_id, "", max_depth=1, version=v.version)
        head["outline"] = [brief(n, summary=False) for n in roots]
        return head
    node = yield op("get_node", doc_id, a["node_id"], version=v.version)
    head["node"] = _node_head(node, v.version)
    hint = ("content continues: call get_node with node_id=" + json.dumps(node.node_id) +
            f", version={v.version} and offset={{end}}")

    def make(window: dict[str, Any], end: int, total: int) -> dict[str, Any]:
        out = dict(head)
        out["node"] = dict(head["node"], **_content_fields(window, 0, end, total, hint))
        return out

    text, _ = _windowed(make, node, 0, ctx.budget)
    return text


def get_page_content(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: users and documents cite pages ("see page 14"); this maps a page
    range to the sections covering it and returns their content, paged on node boundaries
    (a long section continues from an offset)."""
    start = a["start_page"]
    end = a["end_page"] if a["end_page"] is not None else start
    if end < start:
        raise InvalidArgument(f"'end_page' ({end}) must be >= 'start_page' ({start})")
    if end - start > 49:
        raise InvalidArgument("page range too large: at most 50 pages per call")
    doc_id = a["doc_id"]
    version = yield from pin(ctx, doc_id)
    _, roots = yield op("get_document", doc_id, include_tree=True, include_text=True,
                        version=version)
    covering: list[tuple[Node, int]] = []

    def visit(n: Node, depth: int) -> None:
        s = n.start_page
        e = n.end_page if n.end_page is not None else s
        if s is not None and e is not None and s <= end and e >= start:
            covering.append((n, depth))
        for c in n.children:
            visit(c, depth + 1)

    for r in roots:
        visit(r, 0)
    first, offset = _token(a["page_token"], "n", "get_page_content", 2) \
        if a["page_token"] else (0, 0)
    head = {"doc_id": doc_id, "version": version, "pages": f"{start}-{end}",
            "sections_covering": len(covering)}
    if not covering:
        return dict(head, nodes=[], note="no section covers these pages (check the page "
                                         "numbers with pi_search)")
    if first >= len(covering):
        raise InvalidArgument("'page_token' is past the last section")

    def entry(i: int, window_from: int, window_to: int) -> dict[str, Any]:
        n, depth = covering[i]
        out = brief(n, summary=False)
        out["depth"] = depth
        out.update(content_window(n, window_from, window_to))
        if window_from or window_to < content_length(n):
            out["content_chars"] = {"from": window_from, "to": window_to,
                                    "of": content_length(n)}
        return out

    def render(nodes: list[dict[str, Any]], token: str) -> str:
        out = dict(head, nodes=nodes)
        if token:
            out["next_page_token"] = token
            out["note"] = "more content: call get_page_content again with page_token"
        return dumps(out)

    nodes: list[dict[str, Any]] = []
    i, off = first, offset
    while i < len(covering):
        n = covering[i][0]
        full = entry(i, off, content_length(n))
        following = f"n:{i + 1}:0" if i + 1 < len(covering) else ""
        if len(render(nodes + [full], following)) <= ctx.budget:
            nodes.append(full)
            i, off = i + 1, 0
            continue
        # the section does not fit whole: show as much of it as fits and stop there
        cut = largest_fitting(off + 1, content_length(n) - 1, lambda e: len(
            render(nodes + [entry(i, off, e)], f"n:{i}:{e}")) <= ctx.budget)
        if cut > off:
            nodes.append(entry(i, off, cut))
            return render(nodes, f"n:{i}:{cut}")
        if not nodes:
            raise InvalidArgument("the output limit is too small to show any content")
        return render(nodes, f"n:{i}:{off}")
    return render(nodes, "")


# ---------------------------------------------------------------------------------------
# search, lists, history, references, cache
# ---------------------------------------------------------------------------------------

def search_nodes(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: when the outline does not reveal where an answer is, keyword search
    finds candidate sections across documents; results are ranked by score (best first)
    and paged with a token."""
    if a["doc_id"]:
        yield from pin(ctx, a["doc_id"])
    hits: list[Any] = []
    token, capped = "", False
    while True:
        page = yield op("search_nodes", a["query"], doc_id=a["doc_id"], limit=1000,
                        page_token=token)
        hits.extend(page.items)
        token = page.next_page_token
        if not token:
            break
        if len(hits) >= MAX_RANKED_HITS:
            capped = True
            break
    hits.sort(key=lambda h: (-h.score, h.doc_id, h.node_id))
    start = _token(a["page_token"], "o", "search_nodes")[0] if a["page_token"] else 0
    chosen = hits[start:start + a["limit"]]
    out: dict[str, Any] = {
        "query": a["query"], "total_hits": len(hits),
        "hits": [{"rank": start + i + 1, "doc_id": h.doc_id, "node_id": h.node_id,
                  "title": h.title, "score": round(h.score, 4), "snippet": h.snippet}
                 for i, h in enumerate(chosen)]}
    if start + a["limit"] < len(hits):
        out["next_page_token"] = f"o:{start + a['limit']}"
    if capped:
        out["note"] = (f"more than {MAX_RANKED_HITS} sections match; the ranking covers the "
                       f"first {len(hits)} by id: add words or a doc_id to narrow it")
    return out


def list_documents(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: the model must learn which documents exist (and their ids) before
    any other tool can be called on them."""
    page = yield op("list_documents", page_size=a["page_size"], page_token=a["page_token"],
                    id_prefix=a["id_prefix"])
    out: dict[str, Any] = {
        "documents": [{"doc_id": d.doc_id, "name": d.name,
                       "description": preview(d.description, 300), "version": d.version,
                       "sections": d.node_count, "updated": iso(d.updated_at)}
                      for d in page.items]}
    if page.next_page_token:
        out["next_page_token"] = page.next_page_token
    return out


def diff_versions(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: "what changed between the 2019 and the 2023 edition" is a question
    of its own; it names the sections added, removed, changed (which fields) and moved, and
    who committed the versions in between."""
    latest = yield from pin(ctx, a["doc_id"])
    d = yield op("diff_versions", a["doc_id"], a["from_version"], a["to_version"] or latest)
    return {"doc_id": a["doc_id"], "from_version": d.from_version, "to_version": d.to_version,
            "committed_by": d.committed_by,
            "counts": {"added": len(d.added), "removed": len(d.removed),
                       "changed": len(d.changed), "moved": len(d.moved)},
            "added": d.added, "removed": d.removed,
            "changed": [{"node_id": c.node_id, "fields": c.fields} for c in d.changed],
            "moved": [{"node_id": m.node_id,
                       "from": f"{m.old_parent_id or '(top)'}#{m.old_position}",
                       "to": f"{m.new_parent_id or '(top)'}#{m.new_position}"}
                      for m in d.moved]}


def policy_xref(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: policies cite and supersede each other; answering correctly often
    means following those references (GetCrossReferences, also across documents)."""
    doc_id = a["doc_id"]
    yield from pin(ctx, doc_id)
    page = yield op("get_cross_references", doc_id, a["node_id"], direction=a["direction"],
                    max_hops=a["max_hops"], kind=a["kind"], page_size=a["limit"])
    ends = sorted({(r.from_doc_id, r.from_node_id) for r in page.items} |
                  {(r.to_doc_id, r.to_node_id) for r in page.items})[:60]
    for d in sorted({d for d, _ in ends}):
        yield from pin(ctx, d)
    found = yield [op("get_node", d, n, include_text=False, version=ctx.deps[d])
                   for d, n in ends]
    titles = {(d, n): node.title for (d, n), node in zip(ends, found)}
    refs = [{"from": {"doc_id": r.from_doc_id, "node_id": r.from_node_id,
                      "title": titles.get((r.from_doc_id, r.from_node_id), "")},
             "to": {"doc_id": r.to_doc_id, "node_id": r.to_node_id,
                    "title": titles.get((r.to_doc_id, r.to_node_id), "")},
             "kind": r.kind, "label": r.label, "hops": r.hops} for r in page.items]
    out: dict[str, Any] = {"doc_id": doc_id, "node_id": a["node_id"], "references": refs}
    if page.next_page_token:
        out["note"] = f"more than {a['limit']} references: raise limit or filter by kind"
    return out


def _args_object(value: Any) -> Any:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise InvalidArgument("'args' must be a JSON object (as text), e.g. "
                                  "{\"doc_id\": \"regbi\"}") from None
    if not isinstance(value, dict):
        raise InvalidArgument("'args' must be a JSON object, e.g. {\"doc_id\": \"regbi\"}")
    return value


#: Prefix of the tool names under which store_tool_result / get_cached_result keep the
#: model's own entries (apart from the automatic cache of the integration).
AGENT_PREFIX = "agent:"


def store_tool_result(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: the model's own conclusions (a derived answer, a computed table) are
    worth keeping across runs; stored with the documents they came from, they go stale
    when one of them changes, like the automatic cache of the other tools."""
    args = _args_object(a["args"])
    stored = yield op("store_tool_result", AGENT_PREFIX + a["tool_name"], args, a["result"],
                      ttl_seconds=a["ttl_seconds"], depends_on=a["depends_on"])
    return {"stored": True, "tool_name": a["tool_name"], "expires_at": iso(stored.expires_at),
            "depends_on": [{"doc_id": d.doc_id, "version": d.version}
                           for d in stored.depends_on]}


def get_cached_result(a: dict[str, Any], ctx: Ctx) -> Steps:
    """Why in the set: the read side of store_tool_result; a hit is fresh (not expired, and
    no document it depends on has changed), a miss says why."""
    res = yield op("get_tool_result", AGENT_PREFIX + a["tool_name"], _args_object(a["args"]))
    if not res.hit:
        return {"hit": False, "miss_reason": res.miss_reason}
    return {"hit": True, "stored_at": iso(res.stored_at), "result": res.result}

"""Rendering of tool results for an LLM context: node briefs, content windows, and fitting a
JSON value into a character budget without ever cutting the JSON itself.

Every function here is pure (no client calls); ``_tool_handlers`` uses them.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from .types import Node, from_micros

#: Characters of a summary shown in tree and list outputs (get_node shows the whole summary).
SUMMARY_PREVIEW_CHARS = 400


def dumps(value: Any) -> str:
    """The exact text a tool returns for a JSON-serialisable value."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def iso(micros: int) -> str:
    """Unix microseconds as an ISO 8601 UTC date-time (``2023-12-31T00:00:00Z``)."""
    return from_micros(micros).isoformat().replace("+00:00", "Z")


def day(micros: int) -> str:
    """Unix microseconds as an ISO date, or a date-time when not at midnight UTC."""
    dt = from_micros(micros)
    if (dt.hour, dt.minute, dt.second, dt.microsecond) == (0, 0, 0, 0):
        return dt.date().isoformat()
    return iso(micros)


def pages(n: Node) -> Optional[str]:
    """A node's page range as text (``"3-5"``, ``"7"``), None when unknown."""
    if n.start_page is None and n.end_page is None:
        return None
    if n.start_page == n.end_page or n.end_page is None:
        return str(n.start_page)
    if n.start_page is None:
        return f"?-{n.end_page}"
    return f"{n.start_page}-{n.end_page}"


def preview(text: str, limit: int = SUMMARY_PREVIEW_CHARS) -> str:
    """``text`` cut to about ``limit`` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", limit * 3 // 4, limit)
    return text[: cut if cut > 0 else limit].rstrip() + " …"


def brief(n: Node, *, summary: bool = True) -> dict[str, Any]:
    """id, title, pages (or line) and a summary preview. A cut summary is flagged with
    ``summary_chars`` (its full length): get_node returns all of it."""
    out: dict[str, Any] = {"node_id": n.node_id, "title": n.title}
    p = pages(n)
    if p is not None:
        out["pages"] = p
    if n.line_num is not None:
        out["line"] = n.line_num
    if summary and n.summary:
        out["summary"] = preview(n.summary)
        if len(n.summary) > SUMMARY_PREVIEW_CHARS:
            out["summary_chars"] = len(n.summary)
    return out


def content_window(n: Node, offset: int, end: int) -> dict[str, Any]:
    """The part ``[offset, end)`` of a node's content, which is its summary followed by its
    text (offsets count characters over both). Empty parts are left out."""
    ls = len(n.summary)
    out: dict[str, Any] = {}
    if offset < ls:
        out["summary"] = n.summary[offset:min(end, ls)]
    if end > ls and n.text:
        out["text"] = n.text[max(0, offset - ls):end - ls]
    return out


def content_length(n: Node) -> int:
    """Length of a node's content (summary + text) in characters."""
    return len(n.summary) + len(n.text)


def largest_fitting(lo: int, hi: int, fits: Callable[[int], bool]) -> int:
    """The largest ``x`` in ``[lo, hi]`` with ``fits(x)``, for a ``fits`` that is monotone
    (true up to some point, false after); ``lo - 1`` when none fits."""
    best = lo - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        if fits(mid):
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


# ---------------------------------------------------------------------------------------
# fitting any JSON value into a budget (the safety net: handlers size their own output)
# ---------------------------------------------------------------------------------------

_MIN_STRING = 40
_OMITTED = "… {} more items omitted (ask for less)"


def _split_note(items: list) -> tuple[list, int]:
    """A list without its trailing omission note, and the count the note gave."""
    if items and isinstance(items[-1], str) and items[-1].startswith("… ") \
            and items[-1].endswith(" more items omitted (ask for less)"):
        return items[:-1], int(items[-1].split()[1])
    return items, 0


def _largest(value: Any, path: tuple) -> Optional[tuple[int, tuple, str]]:
    """(size, path, kind) of the largest string or list inside value that can shrink."""
    best: Optional[tuple[int, tuple, str]] = None
    if isinstance(value, str):
        if len(value.partition(" …[cut: ")[0]) > _MIN_STRING and not value.startswith("… "):
            best = (len(value), path, "str")
    elif isinstance(value, list):
        if len(_split_note(value)[0]) > 1:
            best = (len(dumps(value)), path, "list")
        for i, item in enumerate(value):
            cand = _largest(item, path + (i,))
            if cand and (best is None or cand[0] > best[0]):
                best = cand
    elif isinstance(value, dict):
        for key, item in value.items():
            cand = _largest(item, path + (key,))
            if cand and (best is None or cand[0] > best[0]):
                best = cand
    return best


def fit_json(value: Any, budget: int) -> str:
    """Serialise ``value`` within ``budget`` characters as valid JSON: halve the largest
    string (marking the cut) or list (noting how many items were left out) until it fits."""
    text = dumps(value)
    if len(text) <= budget:
        return text
    value = json.loads(text)  # a private copy to shrink
    while len(text) > budget:
        found = _largest(value, ())
        if found is None:
            break
        _, path, kind = found
        parent: Any = value
        for key in path[:-1]:
            parent = parent[key]
        if not path:
            break
        key = path[-1]
        item = parent[key]
        if kind == "str":
            # a string already cut keeps its first marker: cut the kept part again
            head, _, _ = item.partition(" …[cut: ")
            total = len(item) if head == item else len(head) + int(
                item.rsplit("…[cut: ", 1)[1].split()[0])
            keep = max(_MIN_STRING // 2, len(head) // 2)
            parent[key] = head[:keep] + f" …[cut: {total - keep} more characters]"
        else:
            items, before = _split_note(item)
            keep = len(items) // 2  # >= 1: only lists of 2+ real items are chosen
            parent[key] = items[:keep] + [_OMITTED.format(len(items) - keep + before)]
        text = dumps(value)
    if len(text) > budget:
        return dumps({"error": f"the result is too large for the output limit of {budget} "
                               "characters; ask for less"})
    return text

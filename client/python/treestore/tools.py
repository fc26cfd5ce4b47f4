"""ReAct / function-calling tools over a TreeStore server.

Each tool has a JSON-schema definition (OpenAI or Anthropic function-calling format) and a
handler. :class:`ToolRunner` validates the model's arguments, runs the handler and returns a
string for the model: JSON on success, ``"Error: ..."`` with a hint on a bad argument or a
server error (never a stack trace), truncated to ``max_output_chars`` with a marker.

>>> runner = ToolRunner(TreeStoreClient("localhost:50051"))
>>> tools = runner.definitions("openai")          # pass to the model
>>> runner.call("pi_search", {"doc_id": "fed_2019_annual_report", "depth": 2})
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Union

from .errors import InvalidArgument, TreeStoreError
from .types import Node, to_micros, from_micros

__all__ = ["Tool", "ToolRunner", "TOOLS", "TRUNCATION_MARKER", "validate_arguments",
           "tool_definitions"]

#: Appended (with counts) when an output is cut to the size limit.
TRUNCATION_MARKER = "...[truncated"
DEFAULT_MAX_OUTPUT_CHARS = 8000

_ID = {"type": "string", "minLength": 1, "maxLength": 256}


def _obj(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required,
            "additionalProperties": False}


@dataclass(frozen=True)
class Tool:
    """One tool: name, description for the model, JSON schema of its arguments, handler."""

    name: str
    description: str
    parameters: dict[str, Any]
    handler: Callable[[Any, dict[str, Any]], Any]

    def definition(self, style: str = "openai") -> dict[str, Any]:
        """Function-calling definition: ``style`` "openai" (tools=[{"type": "function", ...}])
        or "anthropic" (tools=[{"name", "description", "input_schema"}])."""
        if style == "openai":
            return {"type": "function",
                    "function": {"name": self.name, "description": self.description,
                                 "parameters": self.parameters}}
        if style == "anthropic":
            return {"name": self.name, "description": self.description,
                    "input_schema": self.parameters}
        raise ValueError(f"style must be 'openai' or 'anthropic', got {style!r}")


# ---------------------------------------------------------------------------------------
# argument validation (the subset of JSON Schema used by the definitions below)
# ---------------------------------------------------------------------------------------

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}


def _check(value: Any, schema: Mapping[str, Any], path: str) -> None:
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        if not any(_TYPES[t](value) for t in allowed):
            raise InvalidArgument(f"'{path}' must be of type {' or '.join(allowed)}, "
                                  f"got {json.dumps(value)[:60]}")
    if "enum" in schema and value not in schema["enum"]:
        raise InvalidArgument(f"'{path}' must be one of {schema['enum']}, got {value!r}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise InvalidArgument(f"'{path}' must not be empty")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise InvalidArgument(f"'{path}' is too long (max {schema['maxLength']} characters)")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            raise InvalidArgument(f"'{path}' must be >= {schema['minimum']}, got {value}")
        if "maximum" in schema and value > schema["maximum"]:
            raise InvalidArgument(f"'{path}' must be <= {schema['maximum']}, got {value}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise InvalidArgument(f"'{path}' has too many items (max {schema['maxItems']})")
        if "items" in schema:
            for i, item in enumerate(value):
                _check(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties", {})
        for req in schema.get("required", []):
            if req not in value:
                raise InvalidArgument(f"missing required argument '{req}'")
        if schema.get("additionalProperties") is False:
            unknown = sorted(set(value) - set(props))
            if unknown:
                raise InvalidArgument(f"unknown argument(s) {unknown}; allowed: {sorted(props)}")
        for key, sub in props.items():
            if key in value:
                _check(value[key], sub, key if path == "$" else f"{path}.{key}")


def validate_arguments(tool: Tool, arguments: Any) -> dict[str, Any]:
    """Parse (a JSON string or dict) and validate arguments; fill schema defaults.
    Raises InvalidArgument with a message meant for the model."""
    if arguments is None or arguments == "":
        arguments = {}
    if isinstance(arguments, (str, bytes)):
        try:
            arguments = json.loads(arguments)
        except ValueError as exc:
            raise InvalidArgument(f"arguments are not valid JSON ({exc})") from None
    if not isinstance(arguments, dict):
        raise InvalidArgument("arguments must be a JSON object")
    _check(arguments, tool.parameters, "$")
    out = dict(arguments)
    for key, sub in tool.parameters.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = sub["default"]
    return out


# ---------------------------------------------------------------------------------------
# output helpers
# ---------------------------------------------------------------------------------------


def _pages(n: Node) -> Optional[str]:
    if n.start_page is None and n.end_page is None:
        return None
    if n.start_page == n.end_page or n.end_page is None:
        return str(n.start_page)
    if n.start_page is None:
        return f"?-{n.end_page}"
    return f"{n.start_page}-{n.end_page}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"{TRUNCATION_MARKER} {len(text) - limit} chars]"


def _node_brief(n: Node, *, summary: bool = True, text_chars: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"node_id": n.node_id, "title": n.title}
    pages = _pages(n)
    if pages is not None:
        out["pages"] = pages
    if n.line_num is not None:
        out["line"] = n.line_num
    if summary and n.summary:
        out["summary"] = _clip(n.summary, 600)
    if text_chars and n.text:
        out["text"] = _clip(n.text, text_chars)
    return out


def _tree(n: Node, summary: bool) -> dict[str, Any]:
    out = _node_brief(n, summary=summary)
    if n.children:
        out["children"] = [_tree(c, summary) for c in n.children]
    elif n.has_children:
        out["has_more_children"] = True
    return out


def _iso(micros: int) -> str:
    return from_micros(micros).isoformat().replace("+00:00", "Z")


def _version_info(v: Any) -> dict[str, Any]:
    return {"version": v.version, "committed": _iso(v.commit_time),
            "effective": _iso(v.effective_time), "message": v.message}


# ---------------------------------------------------------------------------------------
# handlers: (client, validated args) -> JSON-serializable value
# ---------------------------------------------------------------------------------------


def _pi_search(client: Any, a: dict[str, Any]) -> Any:
    roots = client.get_subtree(a["doc_id"], a["node_id"], max_depth=a["depth"])
    return {"doc_id": a["doc_id"], "tree": [_tree(n, a["include_summary"]) for n in roots]}


def _temporal_lookup(client: Any, a: dict[str, Any]) -> Any:
    when = to_micros(a["date"], field_name="date")
    version = client.get_version_as_of(a["doc_id"], when, axis=a["axis"])
    out: dict[str, Any] = {"doc_id": a["doc_id"], "date": a["date"], "axis": a["axis"],
                           "version_in_force": _version_info(version)}
    if a.get("node_id"):
        node = client.get_node(a["doc_id"], a["node_id"], version=version.version)
        out["node"] = _node_brief(node, text_chars=3000)
    else:
        roots = client.get_subtree(a["doc_id"], "", max_depth=1, version=version.version)
        out["outline"] = [_node_brief(n, summary=False) for n in roots]
    return out


def _policy_xref(client: Any, a: dict[str, Any]) -> Any:
    page = client.get_cross_references(a["doc_id"], a["node_id"], direction=a["direction"],
                                       max_hops=a["max_hops"], kind=a.get("kind"),
                                       page_size=a["limit"])
    titles: dict[tuple[str, str], str] = {}

    def title(doc_id: str, node_id: str) -> str:
        key = (doc_id, node_id)
        if key not in titles and len(titles) < 40:
            try:
                titles[key] = client.get_node(doc_id, node_id, include_text=False).title
            except TreeStoreError:
                titles[key] = ""
        return titles.get(key, "")

    refs = []
    for r in page.items:
        refs.append({"from": {"doc_id": r.from_doc_id, "node_id": r.from_node_id,
                              "title": title(r.from_doc_id, r.from_node_id)},
                     "to": {"doc_id": r.to_doc_id, "node_id": r.to_node_id,
                            "title": title(r.to_doc_id, r.to_node_id)},
                     "kind": r.kind, "label": r.label, "hops": r.hops})
    return {"doc_id": a["doc_id"], "node_id": a["node_id"], "references": refs,
            "more": bool(page.next_page_token)}


def _store_tool_result(client: Any, a: dict[str, Any]) -> Any:
    stored = client.store_tool_result(a["tool_name"], a["args"], a["result"],
                                      ttl_seconds=a["ttl_seconds"], depends_on=a["depends_on"])
    return {"stored": True, "expires_at": _iso(stored.expires_at),
            "depends_on": [{"doc_id": d.doc_id, "version": d.version} for d in stored.depends_on]}


def _get_cached_result(client: Any, a: dict[str, Any]) -> Any:
    res = client.get_tool_result(a["tool_name"], a["args"])
    if not res.hit:
        return {"hit": False, "miss_reason": res.miss_reason}
    return {"hit": True, "stored_at": _iso(res.stored_at), "result": res.result}


def _get_node(client: Any, a: dict[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    if a.get("version"):
        kwargs["version"] = a["version"]
    node = client.get_node(a["doc_id"], a["node_id"], include_text=a["include_text"], **kwargs)
    out = _node_brief(node, text_chars=100_000 if a["include_text"] else 0)
    out["parent_id"] = node.parent_id
    out["has_children"] = node.has_children
    return out


def _get_ancestors(client: Any, a: dict[str, Any]) -> Any:
    path = client.get_ancestors(a["doc_id"], a["node_id"], include_self=True)
    return {"breadcrumb": " > ".join(n.title or n.node_id for n in path),
            "path": [_node_brief(n, summary=False) for n in path]}


def _list_documents(client: Any, a: dict[str, Any]) -> Any:
    page = client.list_documents(page_size=a["page_size"], page_token=a["page_token"],
                                 id_prefix=a["id_prefix"])
    return {"documents": [{"doc_id": d.doc_id, "name": d.name,
                           "description": _clip(d.description, 300), "version": d.version,
                           "nodes": d.node_count, "updated": _iso(d.updated_at)}
                          for d in page.items],
            "next_page_token": page.next_page_token}


def _search_nodes(client: Any, a: dict[str, Any]) -> Any:
    page = client.search_nodes(a["query"], doc_id=a["doc_id"], limit=a["limit"])
    return {"hits": [{"doc_id": h.doc_id, "node_id": h.node_id, "title": h.title,
                      "score": round(h.score, 4), "snippet": h.snippet} for h in page.items],
            "more": bool(page.next_page_token)}


def _diff_versions(client: Any, a: dict[str, Any]) -> Any:
    d = client.diff_versions(a["doc_id"], a["from_version"], a["to_version"])
    cap = 40

    def capped(items: list[Any]) -> list[Any]:
        return items[:cap] + ([f"... and {len(items) - cap} more"] if len(items) > cap else [])

    return {"from_version": d.from_version, "to_version": d.to_version,
            "counts": {"added": len(d.added), "removed": len(d.removed),
                       "changed": len(d.changed), "moved": len(d.moved)},
            "added": capped(d.added), "removed": capped(d.removed),
            "changed": capped([{"node_id": c.node_id, "fields": c.fields} for c in d.changed]),
            "moved": capped([{"node_id": m.node_id,
                              "from": f"{m.old_parent_id or '(top)'}#{m.old_position}",
                              "to": f"{m.new_parent_id or '(top)'}#{m.new_position}"}
                             for m in d.moved])}


def _get_page_content(client: Any, a: dict[str, Any]) -> Any:
    start = a["start_page"]
    end = a.get("end_page") or start
    if end < start:
        raise InvalidArgument(f"'end_page' ({end}) must be >= 'start_page' ({start})")
    if end - start > 49:
        raise InvalidArgument("page range too large: at most 50 pages per call")
    _, roots = client.get_document(a["doc_id"], include_tree=True, include_text=True)
    hits: list[dict[str, Any]] = []

    def visit(n: Node, depth: int) -> None:
        s = n.start_page
        e = n.end_page if n.end_page is not None else s
        if s is not None and e is not None and s <= end and e >= start:
            entry = _node_brief(n, summary=not n.text, text_chars=20_000)
            entry["depth"] = depth
            hits.append(entry)
        for c in n.children:
            visit(c, depth + 1)

    for r in roots:
        visit(r, 0)
    return {"doc_id": a["doc_id"], "pages": f"{start}-{end}", "nodes": hits,
            "note": "" if hits else "no node covers these pages (check the page numbers with "
                                    "pi_search)"}


# ---------------------------------------------------------------------------------------
# definitions
# ---------------------------------------------------------------------------------------

TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("pi_search",
         "Navigate a document's table-of-contents tree (PageIndex tree search). Returns the "
         "sections under a node (or the whole document) down to a depth, with node ids, titles, "
         "page ranges and summaries. Start at the top with depth 1-2, then drill into the "
         "section that most likely holds the answer.",
         _obj({"doc_id": {**_ID, "description": "Document id (see list_documents)."},
               "node_id": {"type": "string", "maxLength": 256, "default": "",
                           "description": "Section to expand; empty = the whole document."},
               "depth": {"type": "integer", "minimum": 1, "maximum": 10, "default": 2,
                         "description": "Levels to return (1 = only the section itself)."},
               "include_summary": {"type": "boolean", "default": True,
                                   "description": "Include section summaries."}},
              ["doc_id"]),
         _pi_search),
    Tool("temporal_lookup",
         "Find which version of a document was in force on a date (e.g. which edition of a "
         "policy applied on 2023-06-30) and return a section, or the outline, as of then.",
         _obj({"doc_id": {**_ID, "description": "Document id."},
               "date": {"type": "string", "minLength": 10, "maxLength": 40,
                        "description": "ISO 8601 date or date-time, e.g. 2023-06-30 or "
                                       "2023-06-30T12:00:00Z (UTC)."},
               "node_id": {"type": "string", "maxLength": 256, "default": "",
                           "description": "Section to return as of the date; empty = the "
                                          "top-level outline."},
               "axis": {"type": "string", "enum": ["effective", "commit"],
                        "default": "effective",
                        "description": "effective = in force in the real world at the date; "
                                       "commit = stored in the database at the date."}},
              ["doc_id", "date"]),
         _temporal_lookup),
    Tool("policy_xref",
         "List the cross references of a section: which sections it cites or is cited by "
         "(also across documents), following up to max_hops links.",
         _obj({"doc_id": {**_ID, "description": "Document id."},
               "node_id": {**_ID, "description": "Section node id."},
               "direction": {"type": "string", "enum": ["outgoing", "incoming", "both"],
                             "default": "both",
                             "description": "outgoing = what it cites; incoming = what cites "
                                            "it."},
               "max_hops": {"type": "integer", "minimum": 1, "maximum": 3, "default": 1,
                            "description": "How many links to follow."},
               "kind": {"type": "string", "maxLength": 256,
                        "description": "Only references of this kind (e.g. 'cites')."},
               "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50,
                         "description": "Maximum references returned."}},
              ["doc_id", "node_id"]),
         _policy_xref),
    Tool("store_tool_result",
         "Cache the result of an expensive tool call so later identical calls can reuse it. "
         "The entry expires after ttl_seconds or when a document it depends on changes.",
         _obj({"tool_name": {"type": "string", "minLength": 1, "maxLength": 128,
                             "description": "Name of the tool whose result is cached."},
               "args": {"type": "object", "description": "The arguments of that call."},
               "result": {"description": "The result to cache (any JSON value)."},
               "ttl_seconds": {"type": "integer", "minimum": 0, "maximum": 2592000,
                               "default": 3600, "description": "Lifetime in seconds."},
               "depends_on": {"type": "array", "items": _ID, "maxItems": 50, "default": [],
                              "description": "Document ids the result was computed from."}},
              ["tool_name", "args", "result"]),
         _store_tool_result),
    Tool("get_cached_result",
         "Look up a cached tool result stored with store_tool_result. Returns hit=false with a "
         "reason (not_found, expired, stale) when there is no fresh entry.",
         _obj({"tool_name": {"type": "string", "minLength": 1, "maxLength": 128,
                             "description": "Tool name."},
               "args": {"type": "object", "description": "The arguments of the call."}},
              ["tool_name", "args"]),
         _get_cached_result),
    Tool("get_node",
         "Read one section: title, page range, summary and (by default) its full text.",
         _obj({"doc_id": {**_ID, "description": "Document id."},
               "node_id": {**_ID, "description": "Section node id."},
               "include_text": {"type": "boolean", "default": True,
                                "description": "Include the section text."},
               "version": {"type": "integer", "minimum": 0, "default": 0,
                           "description": "Document version; 0 = latest."}},
              ["doc_id", "node_id"]),
         _get_node),
    Tool("get_ancestors",
         "Breadcrumb of a section: the chain of parent sections from the top of the document "
         "down to it.",
         _obj({"doc_id": {**_ID, "description": "Document id."},
               "node_id": {**_ID, "description": "Section node id."}},
              ["doc_id", "node_id"]),
         _get_ancestors),
    Tool("list_documents",
         "List the stored documents (id, name, description, version, size).",
         _obj({"id_prefix": {"type": "string", "maxLength": 256, "default": "",
                             "description": "Only ids starting with this prefix."},
               "page_size": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20,
                             "description": "Documents per page."},
               "page_token": {"type": "string", "default": "",
                              "description": "next_page_token of a previous call."}},
              []),
         _list_documents),
    Tool("search_nodes",
         "Keyword search over section titles, summaries and text; every word must match "
         "(case-insensitive). Use it to find candidate sections, then read them with get_node.",
         _obj({"query": {"type": "string", "minLength": 1, "maxLength": 1024,
                         "description": "Words to search for."},
               "doc_id": {"type": "string", "maxLength": 256, "default": "",
                          "description": "Only this document; empty = all documents."},
               "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10,
                         "description": "Maximum hits."}},
              ["query"]),
         _search_nodes),
    Tool("diff_versions",
         "Compare two versions of a document: sections added, removed, changed (which "
         "fields) and moved.",
         _obj({"doc_id": {**_ID, "description": "Document id."},
               "from_version": {"type": "integer", "minimum": 1,
                                "description": "Older version number."},
               "to_version": {"type": "integer", "minimum": 0, "default": 0,
                              "description": "Newer version number; 0 = latest."}},
              ["doc_id", "from_version"]),
         _diff_versions),
    Tool("get_page_content",
         "Return the text of the sections covering a page range of the original document "
         "(at most 50 pages per call).",
         _obj({"doc_id": {**_ID, "description": "Document id."},
               "start_page": {"type": "integer", "minimum": 1,
                              "description": "First page (1-based, as in the page ranges)."},
               "end_page": {"type": "integer", "minimum": 1,
                            "description": "Last page, inclusive; default = start_page."}},
              ["doc_id", "start_page"]),
         _get_page_content),
]}

_HINTS = {
    "NOT_FOUND": "Check the ids (use list_documents, search_nodes or pi_search).",
    "ALREADY_EXISTS": "It already exists.",
    "INVALID_ARGUMENT": "Fix the argument and call again.",
    "FAILED_PRECONDITION": "The current state does not allow this.",
    "ABORTED": "A concurrent change conflicted; call again.",
    "RESOURCE_EXHAUSTED": "Too large or the server is busy; narrow the request or retry later.",
    "UNAVAILABLE": "The database is temporarily unavailable; retry later.",
    "DEADLINE_EXCEEDED": "The request timed out; narrow it or retry later.",
}


def tool_definitions(style: str = "openai", names: Optional[list[str]] = None) -> list[dict]:
    """Definitions of all tools (or ``names``) in the given function-calling style."""
    return [TOOLS[n].definition(style) for n in (names or list(TOOLS))]


class ToolRunner:
    """Runs tools against a (sync) :class:`~treestore.TreeStoreClient`.

    Args:
        client: the client.
        max_output_chars: upper bound of every returned string (default 8000).
        tools: subset of tool names to expose (default all).
    """

    def __init__(self, client: Any, *, max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
                 tools: Optional[list[str]] = None) -> None:
        if max_output_chars < 200:
            raise ValueError("max_output_chars must be >= 200")
        unknown = set(tools or []) - set(TOOLS)
        if unknown:
            raise ValueError(f"unknown tools: {sorted(unknown)}")
        self.client = client
        self.max_output_chars = max_output_chars
        self.tools = {n: TOOLS[n] for n in (tools or list(TOOLS))}

    def definitions(self, style: str = "openai") -> list[dict[str, Any]]:
        """Definitions to pass to the model."""
        return [t.definition(style) for t in self.tools.values()]

    def _bound(self, text: str) -> str:
        limit = self.max_output_chars
        if len(text) <= limit:
            return text
        marker = (f"\n{TRUNCATION_MARKER}: output was {len(text)} characters, limit {limit}; "
                  "ask for less, e.g. a smaller depth, a narrower page range or a specific "
                  "node]")
        return text[: max(0, limit - len(marker))] + marker

    def call(self, name: str, arguments: Union[str, Mapping[str, Any], None] = None) -> str:
        """Run a tool and return the string to give back to the model (never raises for bad
        arguments or server errors)."""
        tool = self.tools.get(name)
        if tool is None:
            return self._bound(f"Error: unknown tool {name!r}. Available tools: "
                               f"{', '.join(self.tools)}.")
        try:
            args = validate_arguments(tool, arguments)
            result = tool.handler(self.client, args)
        except InvalidArgument as exc:
            if exc.code is not None and exc.method:
                return self._bound(f"Error: {name}: the database rejected an argument: "
                                   f"{exc.details}. {_HINTS['INVALID_ARGUMENT']}")
            return self._bound(f"Error: invalid arguments for {name}: {exc.details}. "
                               f"Expected parameters: {json.dumps(tool.parameters['properties'])}")
        except TreeStoreError as exc:
            code = exc.code.name if exc.code is not None else "ERROR"
            hint = _HINTS.get(code, "")
            return self._bound(f"Error: {name} failed ({code}): {exc.details or 'no details'}. "
                               f"{hint}".rstrip())
        except Exception as exc:  # noqa: BLE001 - the model must never see a traceback
            return self._bound(f"Error: {name} failed unexpectedly ({type(exc).__name__}: "
                               f"{exc}).")
        return self._bound(json.dumps(result, ensure_ascii=False))

    __call__ = call

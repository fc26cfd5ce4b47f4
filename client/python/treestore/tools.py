"""The ten function-calling tools of a ReAct agent over TreeStore.

Each tool has a name, a description for the model, typed parameters (exported as JSON
Schema valid in OpenAI's strict mode and in Anthropic's tool format) and a handler. A runner
validates the model's arguments, runs the handler and returns a string for the model: JSON
sized to ``max_output_chars`` on success (long results are cut on node boundaries and say
how to get the rest), ``"Error: ..."`` with a hint the model can act on otherwise (never a
traceback).

>>> runner = ToolRunner(TreeStoreClient("localhost:50051"))
>>> tools = runner.definitions("openai")          # pass to the model
>>> runner.call("pi_search", {"doc_id": "fed_2019_annual_report", "depth": 2})

Reads go through the client's read cache (:mod:`treestore.cache`) by default: a runner
given a client without one makes a cached client on the same channel (``read_cache=True``,
or a :class:`~treestore.cache.CacheConfig`) and closes it in :meth:`ToolRunner.close`;
``read_cache=False`` uses the client as given. A tool pins the latest version of each document
it reads (answered from memory while the cache's watch is caught up) and then reads at that
version (immutable entries), so the repeated reads of an agent's next tool calls cost no
round trip, and a change to the document shows in the next call.

:mod:`treestore.integrations.reasoning` adds the automatic tool-result cache on top.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

from . import _tool_handlers as h
from ._tool_handlers import Ctx, Op, Steps
from ._tool_render import fit_json
from .cache import CacheConfig
from .errors import InvalidArgument, TreeStoreError

__all__ = ["Param", "Tool", "TOOLS", "ToolRunner", "AsyncToolRunner", "tool_definitions",
           "validate_arguments", "error_text", "run_steps", "arun_steps", "STYLES",
           "DEFAULT_MAX_OUTPUT_CHARS"]

DEFAULT_MAX_OUTPUT_CHARS = 8000
MIN_OUTPUT_CHARS = 500
#: Export formats of :meth:`Tool.definition`.
STYLES = ("openai", "openai-responses", "anthropic")


@dataclass(frozen=True)
class Param:
    """One tool parameter. Optional parameters are exported as nullable (strict mode needs
    every property in ``required``); null or absent means ``default``."""

    type: str  # "string" | "integer" | "boolean" | "array" (of strings)
    description: str
    required: bool = False
    default: Any = None
    minimum: Optional[int] = None
    maximum: Optional[int] = None
    min_length: int = 0
    max_length: Optional[int] = None
    enum: Optional[tuple[str, ...]] = None
    max_items: Optional[int] = None
    #: also accept a JSON object where the schema says string (JSON text of an object):
    #: strict mode has no free-form objects, but direct callers may pass a dict
    object_as_text: bool = False

    def schema(self) -> dict[str, Any]:
        """JSON Schema of the parameter within the strict-mode subset (type, enum,
        items, description); bounds and the default are stated in the description."""
        notes = []
        if self.minimum is not None and self.maximum is not None:
            notes.append(f"{self.minimum} to {self.maximum}")
        elif self.minimum is not None:
            notes.append(f">= {self.minimum}")
        if self.max_items is not None:
            notes.append(f"at most {self.max_items} items")
        if not self.required:
            notes.append(f"null = {json.dumps(self.default)}")
        desc = self.description + (f" ({'; '.join(notes)})" if notes else "")
        out: dict[str, Any] = {"type": self.type if self.required else [self.type, "null"],
                               "description": desc}
        if self.enum is not None:
            out["enum"] = list(self.enum) + ([] if self.required else [None])
        if self.type == "array":
            out["items"] = {"type": "string"}
        return out


_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "array": lambda v: isinstance(v, list),
}


def _check(name: str, p: Param, value: Any) -> Any:
    if isinstance(value, float) and p.type == "integer" and value.is_integer():
        value = int(value)  # some models send 2.0
    if p.object_as_text and isinstance(value, Mapping):
        return dict(value)
    if not _TYPES[p.type](value):
        raise InvalidArgument(f"'{name}' must be of type {p.type}, got "
                              f"{json.dumps(value)[:60]}")
    if p.enum is not None and value not in p.enum:
        raise InvalidArgument(f"'{name}' must be one of {list(p.enum)}, got {value!r}")
    if isinstance(value, str):
        if len(value) < p.min_length:
            raise InvalidArgument(f"'{name}' must not be empty")
        if p.max_length is not None and len(value) > p.max_length:
            raise InvalidArgument(f"'{name}' is too long (max {p.max_length} characters)")
    if p.type == "integer":
        if p.minimum is not None and value < p.minimum:
            raise InvalidArgument(f"'{name}' must be >= {p.minimum}, got {value}")
        if p.maximum is not None and value > p.maximum:
            raise InvalidArgument(f"'{name}' must be <= {p.maximum}, got {value}")
    if p.type == "array":
        if p.max_items is not None and len(value) > p.max_items:
            raise InvalidArgument(f"'{name}' has too many items (max {p.max_items})")
        for i, item in enumerate(value):
            if not isinstance(item, str) or not item:
                raise InvalidArgument(f"'{name}[{i}]' must be a non-empty string")
    return value


@dataclass(frozen=True)
class Tool:
    """One tool: name, description for the model, parameters, handler, cache policy.

    ``cache`` says how :mod:`treestore.integrations.reasoning` may cache its results:
    "versioned" (fresh while the documents read keep their versions), "ttl" (the answer
    also depends on something no document version captures: kept for a short time only),
    or None (never: the tool is the cache itself)."""

    name: str
    description: str
    params: Mapping[str, Param]
    handler: Callable[[dict[str, Any], Ctx], Steps]
    cache: Optional[str] = "versioned"

    @property
    def why(self) -> str:
        """Why the tool is in the set (the first paragraph of its handler's docstring)."""
        doc = (self.handler.__doc__ or "").strip()
        return " ".join(doc.split("\n\n")[0].split()).removeprefix("Why in the set: ")

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON Schema of the arguments (an object; strict-mode valid)."""
        return {"type": "object",
                "properties": {n: p.schema() for n, p in self.params.items()},
                "required": list(self.params), "additionalProperties": False}

    def definition(self, style: str = "openai") -> dict[str, Any]:
        """Function-calling definition: "openai" (Chat Completions ``tools=[...]``, strict),
        "openai-responses" (Responses API) or "anthropic" (Messages API ``tools=[...]``)."""
        if style == "openai":
            return {"type": "function",
                    "function": {"name": self.name, "description": self.description,
                                 "parameters": self.parameters, "strict": True}}
        if style == "openai-responses":
            return {"type": "function", "name": self.name, "description": self.description,
                    "parameters": self.parameters, "strict": True}
        if style == "anthropic":
            return {"name": self.name, "description": self.description,
                    "input_schema": self.parameters}
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")


def validate_arguments(tool: Tool, arguments: Any) -> dict[str, Any]:
    """Parse (a JSON string or a mapping) and validate arguments; null or absent optional
    arguments get their default. The result is the canonical argument object (every
    parameter present), which is also the cache key. Raises InvalidArgument with a message
    meant for the model."""
    if arguments is None or arguments == "":
        arguments = {}
    if isinstance(arguments, (str, bytes)):
        try:
            arguments = json.loads(arguments)
        except ValueError as exc:
            raise InvalidArgument(f"arguments are not valid JSON ({exc})") from None
    if not isinstance(arguments, Mapping):
        raise InvalidArgument("arguments must be a JSON object")
    unknown = sorted(set(arguments) - set(tool.params))
    if unknown:
        raise InvalidArgument(f"unknown argument(s) {unknown}; allowed: {sorted(tool.params)}")
    out: dict[str, Any] = {}
    for name, p in tool.params.items():
        value = arguments.get(name)
        if value is None:
            if p.required:
                raise InvalidArgument(f"missing required argument '{name}'")
            out[name] = list(p.default) if isinstance(p.default, list) else p.default
        else:
            out[name] = _check(name, p, value)
    return out


# ---------------------------------------------------------------------------------------
# the ten tools
# ---------------------------------------------------------------------------------------

def _doc(desc: str = "Document id (see list_documents).") -> Param:
    return Param("string", desc, required=True, min_length=1, max_length=256)


def _node(desc: str = "Section node id (e.g. \"0007\").") -> Param:
    return Param("string", desc, required=True, min_length=1, max_length=256)


def _token(tool: str) -> Param:
    return Param("string", f"next_page_token of the previous {tool} result; \"\" = first page.",
                 default="", max_length=64)


_TOOL_NAME = Param("string", "Name under which the result is kept (your own label, e.g. "
                   "\"answer\").", required=True, min_length=1, max_length=100)
_ARGS = Param("string", "The arguments that identify the result, as a JSON object in text, "
              "e.g. {\"question\": \"...\", \"date\": \"2020-06-30\"}.", required=True,
              min_length=2, max_length=60000, object_as_text=True)

TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("pi_search",
         "Navigate a document's table-of-contents tree (PageIndex tree search): the sections "
         "under a node, or the whole document, down to a depth, with ids, titles, pages and "
         "summary previews. Start at the top with depth 1-2 and drill into the section most "
         "likely to hold the answer. Large trees are cut on section boundaries: follow "
         "next_page_token, or expand a section marked children_omitted or has_children (more "
         "levels below) by passing its node_id.",
         {"doc_id": _doc(),
          "node_id": Param("string", "Section to expand; \"\" = the whole document.",
                           default="", max_length=256),
          "depth": Param("integer", "Levels to return, 1 = only the section(s) themselves.",
                         default=2, minimum=1, maximum=10),
          "include_summary": Param("boolean", "Include summary previews.", default=True),
          "page_token": _token("pi_search")},
         h.pi_search),
    Tool("temporal_lookup",
         "Which version of a document was in force on a date (e.g. which edition of a policy "
         "applied on 2020-06-30), with the section (node_id) or the top-level outline as of "
         "then. Says so when the document did not exist yet on that date.",
         {"doc_id": _doc(),
          "date": Param("string", "ISO 8601 date or date-time in UTC, e.g. 2023-06-30 or "
                        "2023-06-30T12:00:00Z.", required=True, min_length=10, max_length=40),
          "node_id": Param("string", "Section to return as of the date; \"\" = the outline.",
                           default="", max_length=256),
          "axis": Param("string", "effective = in force in the real world on the date; "
                        "commit = stored in the database by the date.", default="effective",
                        enum=("effective", "commit"))},
         h.temporal_lookup),
    Tool("policy_xref",
         "Cross references of a section: which sections it cites or is cited by, also in "
         "other documents, following up to max_hops links.",
         {"doc_id": _doc(), "node_id": _node(),
          "direction": Param("string", "outgoing = what it cites; incoming = what cites it.",
                             default="both", enum=("outgoing", "incoming", "both")),
          "max_hops": Param("integer", "How many links to follow.", default=1, minimum=1,
                            maximum=3),
          "kind": Param("string", "Only references of this kind, e.g. \"cites\"; null = any.",
                        default=None, max_length=256),
          "limit": Param("integer", "Maximum references returned.", default=50, minimum=1,
                         maximum=100)},
         h.policy_xref, cache="ttl"),
    Tool("store_tool_result",
         "Keep a result of yours (e.g. an answer you worked out) for later runs, under a "
         "name and arguments. It goes stale when a document it depends on changes, or after "
         "ttl_seconds. Read it back with get_cached_result.",
         {"tool_name": _TOOL_NAME, "args": _ARGS,
          "result": Param("string", "The result to keep, as text (JSON text is fine).",
                          required=True, max_length=1_000_000),
          "ttl_seconds": Param("integer", "Lifetime in seconds.", default=3600, minimum=1,
                               maximum=2_592_000),
          "depends_on": Param("array", "Document ids the result was worked out from.",
                              default=[], max_items=50)},
         h.store_tool_result, cache=None),
    Tool("get_cached_result",
         "Read back a result kept with store_tool_result (same tool_name and args). A miss "
         "says why: not_found, expired, or stale (a document it depends on changed).",
         {"tool_name": _TOOL_NAME, "args": _ARGS},
         h.get_cached_result, cache=None),
    Tool("get_node",
         "Read one section in full: title, pages, breadcrumb, the whole summary and the text. "
         "Long content is paged: call again with offset=next_offset.",
         {"doc_id": _doc(), "node_id": _node(),
          "include_text": Param("boolean", "Include the section text (else the summary only).",
                                default=True),
          "version": Param("integer", "Document version to read; 0 = latest.", default=0,
                           minimum=0),
          "offset": Param("integer", "Where to continue reading (characters into summary "
                          "then text).", default=0, minimum=0)},
         h.get_node),
    Tool("list_documents",
         "List the stored documents: id, name, description, version, number of sections.",
         {"id_prefix": Param("string", "Only ids starting with this prefix.", default="",
                             max_length=256),
          "page_size": Param("integer", "Documents per page.", default=20, minimum=1,
                             maximum=100),
          "page_token": Param("string", "next_page_token of the previous list_documents "
                              "result; \"\" = first page.", default="", max_length=1024)},
         h.list_documents, cache="ttl"),
    Tool("search_nodes",
         "Keyword search over section titles, summaries and text (every word must match, "
         "case-insensitive), best matches first. Find candidate sections, then read them "
         "with get_node.",
         {"query": Param("string", "Words to search for.", required=True, min_length=1,
                         max_length=1024),
          "doc_id": Param("string", "Only this document; \"\" = all documents.", default="",
                          max_length=256),
          "limit": Param("integer", "Hits per page.", default=10, minimum=1, maximum=50),
          "page_token": _token("search_nodes")},
         h.search_nodes),
    Tool("diff_versions",
         "Compare two versions of a document: sections added, removed, changed (which "
         "fields) and moved, and who committed the versions in between.",
         {"doc_id": _doc(),
          "from_version": Param("integer", "Older version number.", required=True, minimum=1),
          "to_version": Param("integer", "Newer version number; 0 = latest.", default=0,
                              minimum=0)},
         h.diff_versions),
    Tool("get_page_content",
         "The content of the sections covering a page range of the original document (at "
         "most 50 pages per call), paged on section boundaries: follow next_page_token.",
         {"doc_id": _doc(),
          "start_page": Param("integer", "First page (1-based, as in the page ranges).",
                              required=True, minimum=1),
          "end_page": Param("integer", "Last page, inclusive.", default=None, minimum=1),
          "page_token": _token("get_page_content")},
         h.get_page_content),
]}

assert len(TOOLS) == 10


def tool_definitions(style: str = "openai", names: Optional[list[str]] = None) -> list[dict]:
    """Definitions of all tools (or ``names``) in a function-calling format (see STYLES)."""
    return [TOOLS[n].definition(style) for n in (names or list(TOOLS))]


# ---------------------------------------------------------------------------------------
# running handlers: the same generator against the blocking or the asyncio client
# ---------------------------------------------------------------------------------------

def _invoke(client: Any, o: Op) -> Any:
    return getattr(client, o.method)(*o.args, **o.kwargs)


def run_steps(client: Any, steps: Steps) -> Any:
    """Drive a handler against a blocking client. A TreeStoreError of a call is raised
    inside the handler (which may catch it)."""
    value: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            step = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            value = ([_invoke(client, o) for o in step] if isinstance(step, list)
                     else _invoke(client, step))
        except TreeStoreError as exc:
            error = exc


async def arun_steps(client: Any, steps: Steps) -> Any:
    """Drive a handler against an asyncio client; a list of calls runs concurrently."""
    value: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            step = steps.throw(error) if error is not None else steps.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            if isinstance(step, list):
                value = list(await asyncio.gather(*(_invoke(client, o) for o in step)))
            else:
                value = await _invoke(client, step)
        except TreeStoreError as exc:
            error = exc


_HINTS = {
    "NOT_FOUND": "Check the ids (list_documents, search_nodes or pi_search show them).",
    "ALREADY_EXISTS": "It already exists.",
    "INVALID_ARGUMENT": "Fix the argument and call again.",
    "FAILED_PRECONDITION": "The current state does not allow this.",
    "ABORTED": "A concurrent change conflicted; call again.",
    "RESOURCE_EXHAUSTED": "Too large or the server is busy; narrow the request or retry later.",
    "UNAVAILABLE": "The database is temporarily unavailable; retry later.",
    "DEADLINE_EXCEEDED": "The request timed out; narrow it or retry later.",
}


def error_text(tool: Optional[Tool], name: str, exc: BaseException) -> str:
    """The text a model gets for a failed call: what went wrong and what to do."""
    if isinstance(exc, InvalidArgument):
        if exc.code is not None and exc.method:
            return (f"Error: {name}: the database rejected an argument: {exc.details}. "
                    f"{_HINTS['INVALID_ARGUMENT']}")
        expected = ", ".join(f"{n}{'' if p.required else '?'}: {p.type}"
                             for n, p in tool.params.items()) if tool else ""
        return f"Error: invalid arguments for {name}: {exc.details}. Parameters: {expected}."
    if isinstance(exc, TreeStoreError):
        code = exc.code.name if exc.code is not None else "ERROR"
        hint = _HINTS.get(code, "")
        return f"Error: {name} failed ({code}): {exc.details or 'no details'}. {hint}".rstrip()
    return f"Error: {name} failed unexpectedly ({type(exc).__name__}: {exc})."


@dataclass
class Prepared:
    """A validated call: the tool, its canonical arguments, and the handler's context."""

    tool: Tool
    args: dict[str, Any]
    ctx: Ctx

    def steps(self) -> Steps:
        return self.tool.handler(self.args, self.ctx)

    def render(self, result: Any) -> str:
        return result if isinstance(result, str) else fit_json(result, self.ctx.budget)


@dataclass
class _RunnerBase:
    client: Any
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    tools: Optional[list[str]] = None
    read_cache: Union[bool, CacheConfig] = True
    _tools: dict[str, Tool] = field(init=False, repr=False)
    #: the cached client this runner made (closed by close()); None when it uses the given one
    _own_client: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.max_output_chars < MIN_OUTPUT_CHARS:
            raise ValueError(f"max_output_chars must be >= {MIN_OUTPUT_CHARS}")
        unknown = set(self.tools or []) - set(TOOLS)
        if unknown:
            raise ValueError(f"unknown tools: {sorted(unknown)}")
        self._tools = {n: TOOLS[n] for n in (self.tools or list(TOOLS))}
        with_cache = getattr(self.client, "with_cache", None)
        if self.read_cache is not False and with_cache is not None \
                and getattr(self.client, "cache", None) is None:
            config = self.read_cache if isinstance(self.read_cache, CacheConfig) \
                else CacheConfig()
            self._own_client = self.client = with_cache(config)

    def read_cache_stats(self) -> Any:
        """The read cache's counters (:class:`~treestore.cache.ReadCacheStats`; None when
        the client has no cache)."""
        stats = getattr(self.client, "cache_stats", None)
        return stats() if stats is not None else None

    def definitions(self, style: str = "openai") -> list[dict[str, Any]]:
        """Definitions to pass to the model."""
        return [t.definition(style) for t in self._tools.values()]

    def prepare(self, name: str, arguments: Union[str, Mapping[str, Any], None]) -> Prepared:
        """Validate a call (raises InvalidArgument, or KeyError for an unknown tool)."""
        tool = self._tools[name]
        return Prepared(tool, validate_arguments(tool, arguments),
                        Ctx(budget=self.max_output_chars))

    def _error(self, name: str, exc: BaseException) -> str:
        text = error_text(self._tools.get(name), name, exc)
        if name not in self._tools and isinstance(exc, KeyError):
            text = f"Error: unknown tool {name!r}. Available tools: {', '.join(self._tools)}."
        if len(text) > self.max_output_chars:
            marker = " …[cut]"
            text = text[:self.max_output_chars - len(marker)] + marker
        return text


class ToolRunner(_RunnerBase):
    """Runs tools against a blocking :class:`~treestore.TreeStoreClient` (no tool-result
    cache; see :class:`treestore.integrations.reasoning.ReasoningTools` for that).

    Args:
        client: the client.
        max_output_chars: upper bound of every returned string (default 8000, >= 500).
        tools: subset of tool names to expose (default all ten).
        read_cache: True (default) or a :class:`~treestore.cache.CacheConfig`: read through
            a read cache (a client without one is replaced by a cached client on its
            channel, closed by :meth:`close`); False: use ``client`` as given.
    """

    def close(self) -> None:
        """Close the cached client this runner made (not the client it was given)."""
        if self._own_client is not None:
            self._own_client.close()

    def __enter__(self) -> "ToolRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def call(self, name: str, arguments: Union[str, Mapping[str, Any], None] = None) -> str:
        """Run a tool and return the string for the model (never raises for bad arguments
        or server errors)."""
        try:
            p = self.prepare(name, arguments)
            return p.render(run_steps(self.client, p.steps()))
        except Exception as exc:  # noqa: BLE001 - the model must never see a traceback
            return self._error(name, exc)

    __call__ = call


class AsyncToolRunner(_RunnerBase):
    """:class:`ToolRunner` for :class:`~treestore.AsyncTreeStoreClient` (same arguments;
    :meth:`close` is a coroutine)."""

    async def close(self) -> None:
        """Close the cached client this runner made (not the client it was given)."""
        if self._own_client is not None:
            await self._own_client.close()

    async def __aenter__(self) -> "AsyncToolRunner":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def call(self, name: str,
                   arguments: Union[str, Mapping[str, Any], None] = None) -> str:
        """Run a tool; see :meth:`ToolRunner.call`."""
        try:
            p = self.prepare(name, arguments)
            return p.render(await arun_steps(self.client, p.steps()))
        except Exception as exc:  # noqa: BLE001 - the model must never see a traceback
            return self._error(name, exc)

    __call__ = call

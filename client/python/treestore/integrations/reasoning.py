"""Reasoning-service integration: the service's ten tools on TreeStore, cached automatically.

The service's ``tool_handlers.py`` imports this module and keeps its tool names and argument
shapes::

    from treestore import TreeStoreClient
    from treestore.integrations import reasoning

    tools = reasoning.ReasoningTools(TreeStoreClient("treestore:50051"))
    TOOL_SCHEMAS = tools.definitions("openai")     # or "anthropic", "openai-responses"
    TOOL_HANDLERS = tools.handlers()               # {"pi_search": fn(**args) -> str, ...}
    output = TOOL_HANDLERS["pi_search"](doc_id="regbi", depth=2)

The ten tools and what they map onto (each tool's docstring says why it is in the set):

============================  =====================================================
``pi_search``                 GetSubtree (sized to the context, paged)
``temporal_lookup``           GetVersionAsOf, then GetNode / GetSubtree at that version
``policy_xref``               GetCrossReferences (+ titles of both ends)
``store_tool_result``         StoreToolResult (the model's own results)
``get_cached_result``         GetToolResult (reads those back)
``get_node``                  GetNode + GetAncestors (whole summary and text, paged)
``list_documents``            ListDocuments
``search_nodes``              SearchNodes (ranked by score, paged)
``diff_versions``             DiffVersions
``get_page_content``          GetDocument (sections covering a page range, paged)
============================  =====================================================

**Caching.** Every call of a read tool first looks up the server's tool-result cache under
``<namespace>/<tool>`` with the canonical arguments (validated, defaults filled, keys sorted
by the server) and the output budget. A hit returns the stored text. A miss runs the tool,
then stores its output with ``depends_on`` = the documents it read, at the versions pinned
*before* reading, so the entry goes stale as soon as one of them changes (and is never
stored fresh for a version it did not see). Results that depend on something no document
version captures (cross references, the set of documents, a search over all documents) are
kept ``unversioned_ttl_seconds`` only. Errors are never cached. The server counts every
lookup: ``Stats.cache_hits`` / ``cache_misses`` / ``cache_hit_rate``; this object counts its
own in :attr:`ReasoningTools.cache_stats`.

**Read cache.** Below the tool-result cache, the documents' reads go through the client's
read cache (``read_cache=True``, the default; see :mod:`treestore.tools` and
:mod:`treestore.cache`): pinning a document's latest version and reading at that version
cost no round trip while the cache's watch is caught up and the document did not change.
``read_cache_stats()`` reports it.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Optional, Union

from .._tool_handlers import Steps, op
from ..cache import CacheConfig
from ..errors import TreeStoreError
from ..tools import (DEFAULT_MAX_OUTPUT_CHARS, STYLES, TOOLS, AsyncToolRunner, Prepared, Tool,
                     ToolRunner, arun_steps, error_text, run_steps, tool_definitions)

__all__ = ["ReasoningTools", "AsyncReasoningTools", "CacheStats", "TOOL_NAMES", "STYLES",
           "tool_definitions", "DEFAULT_NAMESPACE"]

#: The ten tool names, in the order of the definitions.
TOOL_NAMES: tuple[str, ...] = tuple(TOOLS)
#: Prefix of the cache entries of this integration (bump the version when outputs change).
DEFAULT_NAMESPACE = "treestore.reasoning.v1"
DEFAULT_TTL_SECONDS = 24 * 3600
DEFAULT_UNVERSIONED_TTL_SECONDS = 60

Arguments = Union[str, Mapping[str, Any], None]


@dataclass
class CacheStats:
    """Lookups of this object's cache (the server's Stats count every client's)."""

    hits: int = 0
    misses: int = 0
    stored: int = 0
    #: lookups or stores that failed (the tool still answered, uncached)
    errors: int = 0
    #: calls of tools that are never cached (store_tool_result, get_cached_result)
    uncached: int = 0

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class _Cached:
    """The cached call flow as a generator of client calls, shared by both runners."""

    cache: bool
    namespace: str
    ttl_seconds: int
    unversioned_ttl_seconds: int
    cache_stats: CacheStats
    max_output_chars: int

    def _setup(self, cache: bool, namespace: str, ttl_seconds: int,
               unversioned_ttl_seconds: int) -> None:
        if not 1 <= unversioned_ttl_seconds <= ttl_seconds <= 2_592_000:
            raise ValueError("need 1 <= unversioned_ttl_seconds <= ttl_seconds <= 2592000")
        if not namespace or len(namespace) > 100:
            raise ValueError("namespace must be 1..100 characters")
        self.cache = cache
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.unversioned_ttl_seconds = unversioned_ttl_seconds
        self.cache_stats = CacheStats()

    def cache_key(self, p: Prepared) -> tuple[str, dict[str, Any]]:
        """(tool_name, args) of the cache entry of a call."""
        return (f"{self.namespace}/{p.tool.name}",
                {"args": p.args, "max_output_chars": self.max_output_chars})

    def _flow(self, p: Prepared) -> Steps:
        name = p.tool.name
        if not (self.cache and p.tool.cache):
            if self.cache:
                self.cache_stats.uncached += 1
            try:
                return p.render((yield from p.steps()))
            except Exception as exc:  # noqa: BLE001 - becomes text for the model
                return error_text(p.tool, name, exc)
        key_tool, key_args = self.cache_key(p)
        try:
            found = yield op("get_tool_result", key_tool, key_args)
        except TreeStoreError:
            found = None
            self.cache_stats.errors += 1
        if found is not None and found.hit and isinstance(found.result, str):
            self.cache_stats.hits += 1
            return found.result
        self.cache_stats.misses += 1
        try:
            text = p.render((yield from p.steps()))
        except Exception as exc:  # noqa: BLE001 - becomes text for the model
            return error_text(p.tool, name, exc)
        versioned = p.tool.cache == "versioned" and bool(p.ctx.deps)
        try:
            yield op("store_tool_result", key_tool, key_args, text,
                     ttl_seconds=self.ttl_seconds if versioned else self.unversioned_ttl_seconds,
                     depends_on=sorted(p.ctx.deps.items()))
            self.cache_stats.stored += 1
        except TreeStoreError:
            # e.g. a document read was deleted meanwhile: the answer stands, uncached
            self.cache_stats.errors += 1
        return text

    def _handler_signature(self, tool: Tool) -> inspect.Signature:
        params = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY,
                                    default=inspect.Parameter.empty if p.required else p.default)
                  for n, p in tool.params.items()]
        return inspect.Signature(params, return_annotation=str)


class ReasoningTools(ToolRunner, _Cached):
    """The ten tools over a blocking :class:`~treestore.TreeStoreClient`, cached.

    Args:
        client: the client.
        max_output_chars: upper bound of every output (default 8000); part of the cache key.
        cache: False turns the cache off (every call goes to the documents).
        namespace: prefix of the cache entries' tool names.
        ttl_seconds: lifetime of results that depend only on document versions (they go
            stale on any change anyway; the TTL bounds what the cache keeps).
        unversioned_ttl_seconds: lifetime of results that no version tracks (policy_xref,
            list_documents, search_nodes over all documents).
        tools: subset of the tool names to expose (default all ten).
        read_cache: the client-side read cache below the tools (see
            :class:`~treestore.tools.ToolRunner`): True (default), a
            :class:`~treestore.cache.CacheConfig`, or False (the client as given).
    """

    def __init__(self, client: Any, *, max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
                 cache: bool = True, namespace: str = DEFAULT_NAMESPACE,
                 ttl_seconds: int = DEFAULT_TTL_SECONDS,
                 unversioned_ttl_seconds: int = DEFAULT_UNVERSIONED_TTL_SECONDS,
                 tools: Optional[list[str]] = None,
                 read_cache: Union[bool, CacheConfig] = True) -> None:
        ToolRunner.__init__(self, client, max_output_chars=max_output_chars, tools=tools,
                            read_cache=read_cache)
        self._setup(cache, namespace, ttl_seconds, unversioned_ttl_seconds)

    def call(self, name: str, arguments: Arguments = None) -> str:
        """Run a tool through the cache; returns the text for the model (never raises for
        bad arguments or server errors)."""
        try:
            p = self.prepare(name, arguments)
        except Exception as exc:  # noqa: BLE001
            return self._error(name, exc)
        try:
            return run_steps(self.client, self._flow(p))
        except Exception as exc:  # noqa: BLE001 - e.g. a broken channel
            return self._error(name, exc)

    __call__ = call

    def handlers(self) -> dict[str, Callable[..., str]]:
        """``{tool name: handler(**arguments) -> str}`` for a service's tool dispatch."""
        out = {}
        for name, tool in self._tools.items():
            def handler(_name: str, **kwargs: Any) -> str:
                return self.call(_name, kwargs)
            fn = functools.partial(handler, name)
            out[name] = _named(fn, tool, self._handler_signature(tool))
        return out

    def server_cache_stats(self) -> dict[str, float]:
        """The server's tool-cache counters (Stats RPC: every client's lookups)."""
        s = self.client.stats()
        return {"hits": s.cache_hits, "misses": s.cache_misses, "hit_rate": s.cache_hit_rate}


class AsyncReasoningTools(AsyncToolRunner, _Cached):
    """:class:`ReasoningTools` over :class:`~treestore.AsyncTreeStoreClient` (same
    arguments); ``call`` and the handlers are coroutines, and a tool's independent reads run
    concurrently."""

    def __init__(self, client: Any, *, max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
                 cache: bool = True, namespace: str = DEFAULT_NAMESPACE,
                 ttl_seconds: int = DEFAULT_TTL_SECONDS,
                 unversioned_ttl_seconds: int = DEFAULT_UNVERSIONED_TTL_SECONDS,
                 tools: Optional[list[str]] = None,
                 read_cache: Union[bool, CacheConfig] = True) -> None:
        AsyncToolRunner.__init__(self, client, max_output_chars=max_output_chars, tools=tools,
                                 read_cache=read_cache)
        self._setup(cache, namespace, ttl_seconds, unversioned_ttl_seconds)

    async def call(self, name: str, arguments: Arguments = None) -> str:
        """Run a tool through the cache (see :meth:`ReasoningTools.call`)."""
        try:
            p = self.prepare(name, arguments)
        except Exception as exc:  # noqa: BLE001
            return self._error(name, exc)
        try:
            return await arun_steps(self.client, self._flow(p))
        except Exception as exc:  # noqa: BLE001 - e.g. a broken channel
            return self._error(name, exc)

    __call__ = call

    def handlers(self) -> dict[str, Callable[..., Awaitable[str]]]:
        """``{tool name: async handler(**arguments) -> str}``."""
        out = {}
        for name, tool in self._tools.items():
            async def handler(_name: str, **kwargs: Any) -> str:
                return await self.call(_name, kwargs)
            fn = functools.partial(handler, name)
            out[name] = _named(fn, tool, self._handler_signature(tool))
        return out

    async def server_cache_stats(self) -> dict[str, float]:
        """The server's tool-cache counters (Stats RPC)."""
        s = await self.client.stats()
        return {"hits": s.cache_hits, "misses": s.cache_misses, "hit_rate": s.cache_hit_rate}


def _named(fn: Any, tool: Tool, sig: inspect.Signature) -> Any:
    """Give a handler the tool's name, description (and why) and keyword signature."""
    fn.__name__ = tool.name  # type: ignore[attr-defined]
    fn.__doc__ = f"{tool.description}\n\nWhy in the set: {tool.why}"
    fn.__signature__ = sig  # type: ignore[attr-defined]
    return fn

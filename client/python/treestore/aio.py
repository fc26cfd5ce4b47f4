"""Asynchronous TreeStore client (``grpc.aio``).

Same methods and arguments as :class:`treestore.TreeStoreClient`, as coroutines::

    async with AsyncTreeStoreClient("localhost:50051") as ts:
        node = await ts.get_node("fed-2019", "0007")
        async with ts.transaction("fed-2019") as tx:
            await tx.update_node("0007", title="New title")
"""

from __future__ import annotations

import asyncio
import functools
import time
from types import TracebackType
from typing import (Any, AsyncIterator, Awaitable, Callable, Concatenate, Iterable, Mapping,
                    Optional, ParamSpec, Sequence, TypeVar)

import grpc
import grpc.aio

from . import _calls
from ._base import (DEFAULT_ADDRESS, DEFAULT_TIMEOUT, PemSource, RetryPolicy,
                    NAMESPACE_HEADER, security_settings)
from ._cache_feed import TaskFeed
from ._calls import Call, _method_signature
from ._proto import treestore_pb2_grpc as pb_grpc
from ._watch import WATCH_RESUME, AsyncWatchStream
from .cache import CacheConfig, ReadCache, ReadCacheStats
from .client import _backoff, _expired, _monotonic, _remaining, _TransactionOps
from .errors import NotFound, TreeStoreError, Unavailable
from .types import Document, Health, Node, SearchHit, TimeLike, TransactionInfo, Version

__all__ = ["AsyncTreeStoreClient", "AsyncTransaction"]

P = ParamSpec("P")
R = TypeVar("R")


def _rpc(builder: Callable[P, Call[R]]) -> Callable[Concatenate[Any, P], Awaitable[R]]:
    """Turn a request builder from ``_calls`` into a coroutine method with its signature."""

    @functools.wraps(builder)
    async def method(self: "AsyncTreeStoreClient", *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._run(builder(*args, **kwargs))

    method.__signature__ = _method_signature(builder)  # type: ignore[attr-defined]
    return method


class AsyncTreeStoreClient:
    """Asyncio client; arguments as for :class:`treestore.TreeStoreClient`.

    Create it inside a running event loop (grpc.aio channels bind to the loop). With
    ``cache=CacheConfig(...)`` the read cache's watch runs as a task on that loop, started
    by the first call (see :mod:`treestore.cache`); ``close()`` stops it.
    """

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout: float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy = RetryPolicy(),
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 channel: Optional[grpc.aio.Channel] = None,
                 options: Optional[Sequence[tuple[str, Any]]] = None,
                 metadata: Optional[Sequence[tuple[str, str]]] = None,
                 token: Optional[str] = None,
                 tls: Optional[bool] = None,
                 ca_cert: Optional[PemSource] = None,
                 client_cert: Optional[PemSource] = None,
                 client_key: Optional[PemSource] = None,
                 server_name: Optional[str] = None,
                 namespace: Optional[str] = None,
                 cache: Optional[CacheConfig] = None) -> None:
        self.address = address
        self.timeout = timeout
        self.retry = retry
        credentials, self._metadata, opts = security_settings(
            credentials=credentials, tls=tls, ca_cert=ca_cert, client_cert=client_cert,
            client_key=client_key, server_name=server_name, token=token, metadata=metadata,
            options=options, namespace=namespace)
        #: The namespace every call works in (the server's ``default`` when none is named).
        self.namespace = dict(self._metadata or ()).get(NAMESPACE_HEADER, "default")
        self._owns_channel = channel is None
        if channel is None:
            channel = (grpc.aio.secure_channel(address, credentials, options=opts) if credentials
                       else grpc.aio.insecure_channel(address, options=opts))
        self._channel = channel
        self._stub = pb_grpc.TreeStoreStub(channel)
        self._cache: Optional[ReadCache] = None
        self._feed: Optional[TaskFeed] = None
        if cache is not None:
            self._cache = ReadCache(cache)
            self._feed = TaskFeed(self._cache, self._stub, self._metadata)

    async def close(self) -> None:
        """Stop the cache's watch, and close the channel (when the client created it)."""
        if self._feed is not None:
            await self._feed.close()
        if self._owns_channel:
            await self._channel.close()

    # -- the read cache -------------------------------------------------------------------

    @property
    def cache(self) -> Optional[ReadCache]:
        """The read cache (None when off)."""
        return self._cache

    def cache_stats(self) -> Optional[ReadCacheStats]:
        """Counters of the read cache; None when it is off."""
        return self._cache.stats() if self._cache is not None else None

    def with_cache(self, config: CacheConfig = CacheConfig()) -> "AsyncTreeStoreClient":
        """A client with a read cache on this client's channel (see
        :meth:`TreeStoreClient.with_cache`)."""
        return AsyncTreeStoreClient(self.address, timeout=self.timeout, retry=self.retry,
                                    channel=self._channel, metadata=self._metadata,
                                    cache=config)

    async def wait_cache_serving(self, timeout: float = 10.0) -> bool:
        """Start the cache's watch if needed and wait until it is caught up; False after
        ``timeout`` s or when the cache is off."""
        if self._feed is None or self._cache is None:
            return False
        self._feed.ensure_started()
        deadline = time.monotonic() + timeout
        while not self._cache.serving:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.005)
        return True

    async def read_versioned(self, method: str, *args: Any, **kwargs: Any) -> tuple[Any, int]:
        """``(result, version read)`` of a read; see :meth:`TreeStoreClient.read_versioned`."""
        return await self._run(_calls.read_versioned(method, *args, **kwargs))

    # -- change feed ----------------------------------------------------------------------

    def watch(self, doc_ids: Optional[Iterable[str]] = None, *, prefix: str = "",
              resume_token: Optional[bytes] = None,
              from_versions: Optional[Mapping[str, int]] = None,
              include_contents: bool = False, auto_resume: bool = False,
              resume_policy: RetryPolicy = WATCH_RESUME) -> AsyncWatchStream:
        """Stream the changes of documents (``async for event in client.watch(...)``);
        arguments and events as :meth:`TreeStoreClient.watch`."""
        request = _calls.watch_request(doc_ids, prefix=prefix, resume_token=resume_token,
                                       from_versions=from_versions,
                                       include_contents=include_contents)
        return AsyncWatchStream(self._open_watch, request, auto_resume=auto_resume,
                                resume_policy=resume_policy)

    def _open_watch(self, request: Any) -> Any:
        return self._stub.Watch(request, metadata=self._metadata)

    async def __aenter__(self) -> "AsyncTreeStoreClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def wait_until_ready(self, timeout: float = 30.0, interval: float = 0.2) -> Health:
        """Poll Health until the server answers; raises Unavailable after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        last: Optional[Exception] = None
        while time.monotonic() < deadline:
            try:
                return await self.health(timeout=max(0.1, min(2.0, deadline - time.monotonic())))
            except TreeStoreError as exc:
                last = exc
                await asyncio.sleep(interval)
        raise Unavailable(f"server at {self.address} not ready after {timeout}s: {last}")

    async def _run(self, call: Call[R]) -> R:
        cache = self._cache
        if cache is not None:
            if self._feed is not None:
                self._feed.ensure_started()
            response, pending = cache.begin(call)
            if response is not None:
                return call.parse(response)
            if pending is not None:
                try:
                    response = await self._send(call)
                except BaseException:
                    cache.fail(pending)
                    raise
                cache.finish(pending, call, response)
                return call.parse(response)
        return call.parse(await self._send(call))

    async def _send(self, call: Call[Any]) -> Any:
        # the hot path of every RPC: one attempt; retries are in _retry
        timeout = self.timeout if call.timeout is None else call.timeout
        if timeout <= 0:
            raise _expired(call.method, timeout)
        started = _monotonic()
        try:
            response = await getattr(self._stub, call.method)(call.request, timeout=timeout,
                                                              metadata=self._metadata)
        except grpc.RpcError as err:
            response = await self._retry(call, err, timeout, started + timeout)
        return response

    async def _retry(self, call: Call[Any], err: grpc.RpcError, timeout: float,
                     deadline: float) -> Any:
        """As :meth:`TreeStoreClient._retry`, with asyncio sleeps."""
        rpc = getattr(self._stub, call.method)
        retry_number = 0
        while True:
            await asyncio.sleep(_backoff(call, err, retry_number, self.retry, deadline))
            retry_number += 1
            try:
                return await rpc(call.request, timeout=_remaining(call, timeout, deadline),
                                 metadata=self._metadata)
            except grpc.RpcError as next_err:
                err = next_err

    put_document = _rpc(_calls.put_document)
    get_document = _rpc(_calls.get_document)
    list_documents = _rpc(_calls.list_documents)
    delete_document = _rpc(_calls.delete_document)
    list_versions = _rpc(_calls.list_versions)
    get_node = _rpc(_calls.get_node)
    get_subtree = _rpc(_calls.get_subtree)
    get_children = _rpc(_calls.get_children)
    get_ancestors = _rpc(_calls.get_ancestors)
    insert_node = _rpc(_calls.insert_node)
    update_node = _rpc(_calls.update_node)
    move_node = _rpc(_calls.move_node)
    delete_node = _rpc(_calls.delete_node)
    search_nodes = _rpc(_calls.search_nodes)
    get_version_as_of = _rpc(_calls.get_version_as_of)
    diff_versions = _rpc(_calls.diff_versions)
    add_cross_reference = _rpc(_calls.add_cross_reference)
    remove_cross_reference = _rpc(_calls.remove_cross_reference)
    get_cross_references = _rpc(_calls.get_cross_references)
    store_tool_result = _rpc(_calls.store_tool_result)
    get_tool_result = _rpc(_calls.get_tool_result)
    begin_transaction = _rpc(_calls.begin_transaction)
    commit_transaction = _rpc(_calls.commit_transaction)
    rollback_transaction = _rpc(_calls.rollback_transaction)
    health = _rpc(_calls.health)
    stats = _rpc(_calls.stats)

    async def iter_documents(self, *, id_prefix: str = "",
                             metadata_filter: Optional[Mapping[str, str]] = None,
                             page_size: int = 0) -> AsyncIterator[Document]:
        """Iterate over every matching document, fetching pages as needed."""
        token = ""
        while True:
            page = await self.list_documents(page_size=page_size, page_token=token,
                                             id_prefix=id_prefix, metadata_filter=metadata_filter)
            for doc in page.items:
                yield doc
            token = page.next_page_token
            if not token:
                return

    async def iter_versions(self, doc_id: str, *, page_size: int = 0) -> AsyncIterator[Version]:
        """Iterate over every version of a document, oldest first."""
        token = ""
        while True:
            page = await self.list_versions(doc_id, page_size=page_size, page_token=token)
            for v in page.items:
                yield v
            token = page.next_page_token
            if not token:
                return

    async def iter_search(self, query: str, *, doc_id: str = "", limit: int = 0,
                          max_hits: Optional[int] = None) -> AsyncIterator[SearchHit]:
        """Iterate over search hits across pages (stops after ``max_hits`` when given)."""
        token, count = "", 0
        while True:
            page = await self.search_nodes(query, doc_id=doc_id, limit=limit, page_token=token)
            for hit in page.items:
                if max_hits is not None and count >= max_hits:
                    return
                count += 1
                yield hit
            token = page.next_page_token
            if not token:
                return

    async def get_tree(self, doc_id: str, *, include_text: bool = False,
                       version: Optional[int] = None, as_of: Optional[TimeLike] = None,
                       axis: str = "commit") -> tuple[Document, list[Node]]:
        """The document and its whole tree."""
        return await self.get_document(doc_id, include_tree=True, include_text=include_text,
                                       version=version, as_of=as_of, axis=axis)

    def transaction(self, doc_id: str, *, timeout_ms: Optional[int] = None, message: str = "",
                    effective_time: Optional[TimeLike] = None) -> "AsyncTransaction":
        """``async with client.transaction(doc_id) as tx:`` commits on success, rolls back on
        an exception."""
        return AsyncTransaction(self, doc_id, timeout_ms=timeout_ms, message=message,
                                effective_time=effective_time)


class AsyncTransaction(_TransactionOps):
    """A transaction of :class:`AsyncTreeStoreClient`; its read/write methods are
    coroutines (``await tx.insert_node(...)``)."""

    def __init__(self, client: AsyncTreeStoreClient, doc_id: str, *,
                 timeout_ms: Optional[int] = None, message: str = "",
                 effective_time: Optional[TimeLike] = None) -> None:
        self._client = client
        self.doc_id = doc_id
        self.timeout_ms = timeout_ms
        self.message = message
        self.effective_time = effective_time
        self.info: Optional[TransactionInfo] = None
        self.version: Optional[Version] = None
        self.finished = False

    async def begin(self) -> "AsyncTransaction":
        """Start the transaction (done by ``async with``)."""
        self.info = await self._client.begin_transaction(self.doc_id, timeout_ms=self.timeout_ms)
        return self

    async def commit(self, *, message: Optional[str] = None,
                     effective_time: Optional[TimeLike] = None) -> Version:
        """Commit now (raises Conflict on a conflict)."""
        self.finished = True
        self.version = await self._client.commit_transaction(
            self.transaction_id,
            message=self.message if message is None else message,
            effective_time=self.effective_time if effective_time is None else effective_time)
        return self.version

    async def rollback(self) -> None:
        """Discard the writes (an unknown/expired transaction is ignored)."""
        self.finished = True
        try:
            await self._client.rollback_transaction(self.transaction_id)
        except NotFound:
            pass

    async def __aenter__(self) -> "AsyncTransaction":
        return await self.begin()

    async def __aexit__(self, exc_type: Optional[type[BaseException]],
                        exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        if self.finished:
            return
        if exc_type is None:
            await self.commit()
        else:
            try:
                await self.rollback()
            except TreeStoreError:
                pass

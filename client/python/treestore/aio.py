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
from typing import (Any, AsyncIterator, Awaitable, Callable, Concatenate, Mapping, Optional,
                    ParamSpec, Sequence, TypeVar)

import grpc
import grpc.aio

from . import _calls
from ._base import (DEFAULT_ADDRESS, DEFAULT_TIMEOUT, PemSource, RetryPolicy,
                    security_settings)
from ._calls import Call, _method_signature
from ._proto import treestore_pb2_grpc as pb_grpc
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

    Create it inside a running event loop (grpc.aio channels bind to the loop).
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
                 server_name: Optional[str] = None) -> None:
        self.address = address
        self.timeout = timeout
        self.retry = retry
        credentials, self._metadata, opts = security_settings(
            credentials=credentials, tls=tls, ca_cert=ca_cert, client_cert=client_cert,
            client_key=client_key, server_name=server_name, token=token, metadata=metadata,
            options=options)
        self._owns_channel = channel is None
        if channel is None:
            channel = (grpc.aio.secure_channel(address, credentials, options=opts) if credentials
                       else grpc.aio.insecure_channel(address, options=opts))
        self._channel = channel
        self._stub = pb_grpc.TreeStoreStub(channel)

    async def close(self) -> None:
        """Close the channel (when the client created it)."""
        if self._owns_channel:
            await self._channel.close()

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
        return call.parse(response)

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

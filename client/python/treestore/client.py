"""Synchronous TreeStore client."""

from __future__ import annotations

import functools
import time
from types import TracebackType
from typing import (Any, Callable, Concatenate, Iterable, Iterator, Mapping, Optional, ParamSpec,
                    Sequence, TypeVar)

import grpc

from . import _calls
from ._base import (DEFAULT_ADDRESS, DEFAULT_TIMEOUT, PemSource, RetryPolicy,
                    NAMESPACE_HEADER, security_settings)
from ._cache_feed import ThreadFeed
from ._calls import Call, _method_signature
from ._proto import treestore_pb2_grpc as pb_grpc
from ._watch import WATCH_RESUME, WatchStream
from .cache import CacheConfig, ReadCache, ReadCacheStats
from .errors import DeadlineExceeded, NotFound, TreeStoreError, Unavailable, from_rpc_error
from .types import Document, Health, Node, SearchHit, TimeLike, TransactionInfo, Version

__all__ = ["TreeStoreClient", "Transaction"]

P = ParamSpec("P")
R = TypeVar("R")

_monotonic = time.monotonic


def _expired(method: str, timeout: float) -> DeadlineExceeded:
    return DeadlineExceeded(f"deadline of {timeout}s expired before the call",
                            code=grpc.StatusCode.DEADLINE_EXCEEDED, method=method)


def _backoff(call: Call[Any], err: grpc.RpcError, retry_number: int, policy: RetryPolicy,
             deadline: float) -> float:
    """The sleep before retrying ``call`` after its failed attempt ``retry_number`` (0 = the
    first), shared by the sync and async clients. Raises ``err`` as a TreeStoreError when the
    call may not be retried: not idempotent, not UNAVAILABLE, attempts spent, or ``deadline``
    (monotonic) would pass while sleeping."""
    if not (call.idempotent
            and err.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
            and retry_number + 1 < policy.max_attempts):
        raise from_rpc_error(err, call.method) from err
    delay = policy.delay(retry_number)
    if _monotonic() + delay >= deadline:
        raise from_rpc_error(err, call.method) from err
    return delay


def _remaining(call: Call[Any], timeout: float, deadline: float) -> float:
    """Seconds left before ``deadline`` (monotonic) for the next attempt; DeadlineExceeded
    when none are."""
    remaining = deadline - _monotonic()
    if remaining <= 0:
        raise _expired(call.method, timeout)
    return remaining


def _rpc(builder: Callable[P, Call[R]]) -> Callable[Concatenate[Any, P], R]:
    """Turn a request builder from ``_calls`` into a client method with the same signature."""

    @functools.wraps(builder)
    def method(self: "TreeStoreClient", *args: P.args, **kwargs: P.kwargs) -> R:
        return self._run(builder(*args, **kwargs))

    method.__signature__ = _method_signature(builder)  # type: ignore[attr-defined]
    return method


class TreeStoreClient:
    """Blocking client for a TreeStore server.

    >>> with TreeStoreClient("localhost:50051") as ts:
    ...     print(ts.health().status)

    Args:
        address: ``host:port`` of the server.
        timeout: default deadline of every call in seconds (override per call with
            ``timeout=``).
        retry: retry policy for idempotent calls on UNAVAILABLE (``NO_RETRY`` disables).
        credentials: ``grpc.ChannelCredentials`` for TLS; None = plaintext.
        channel: an existing channel to use instead of creating one (not closed by
            :meth:`close`).
        options: extra gRPC channel options.
        metadata: gRPC metadata sent with every call.
        cache: a :class:`~treestore.cache.CacheConfig` turns on the read cache (see
            :mod:`treestore.cache`): reads at a version are kept, latest reads are answered
            from memory while a background watch (a daemon thread) keeps them current.
            None (default): every read goes to the server.
        token: a bearer token (``treestore token``), sent as ``authorization: Bearer ...``
            with every call.
        tls: True for TLS with the system's root CAs (implied by ``ca_cert``/``client_cert``).
        ca_cert: the CA that signed the server's certificate (a PEM path or bytes).
        client_cert, client_key: a client certificate and its key for mutual TLS.
        server_name: the name to check the server's certificate against, when it differs
            from the address's host (e.g. connecting by IP).
        namespace: the namespace (tenant) every call of this client works in; None = the
            server's ``default`` namespace. Document ids are unique per namespace; a call never
            sees another namespace's documents (see the README's Security section).

    Every RPC method raises a :class:`~treestore.errors.TreeStoreError` subclass on failure.
    """

    def __init__(self, address: str = DEFAULT_ADDRESS, *, timeout: float = DEFAULT_TIMEOUT,
                 retry: RetryPolicy = RetryPolicy(),
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 channel: Optional[grpc.Channel] = None,
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
            channel = (grpc.secure_channel(address, credentials, options=opts) if credentials
                       else grpc.insecure_channel(address, options=opts))
        self._channel = channel
        self._stub = pb_grpc.TreeStoreStub(channel)
        self._cache: Optional[ReadCache] = None
        self._feed: Optional[ThreadFeed] = None
        if cache is not None:
            self._cache = ReadCache(cache)
            self._feed = ThreadFeed(self._cache, self._stub, self._metadata)

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the cache's watch, and close the channel (when the client created it)."""
        if self._feed is not None:
            self._feed.close()
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> "TreeStoreClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def wait_until_ready(self, timeout: float = 30.0, interval: float = 0.2) -> Health:
        """Poll Health until the server answers; raises Unavailable after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        last: Optional[Exception] = None
        while time.monotonic() < deadline:
            try:
                return self.health(timeout=max(0.1, min(2.0, deadline - time.monotonic())))
            except TreeStoreError as exc:
                last = exc
                time.sleep(interval)
        raise Unavailable(f"server at {self.address} not ready after {timeout}s: {last}")

    # -- the read cache -------------------------------------------------------------------

    @property
    def cache(self) -> Optional[ReadCache]:
        """The read cache (None when off)."""
        return self._cache

    def cache_stats(self) -> Optional[ReadCacheStats]:
        """Counters of the read cache (hits, misses, entries, bytes, feed state); None when
        the cache is off."""
        return self._cache.stats() if self._cache is not None else None

    def with_cache(self, config: CacheConfig = CacheConfig()) -> "TreeStoreClient":
        """A client with a read cache on this client's channel (same address, timeout,
        retry and metadata); close it to stop its watch (the channel stays open)."""
        return TreeStoreClient(self.address, timeout=self.timeout, retry=self.retry,
                               channel=self._channel, metadata=self._metadata, cache=config)

    def wait_cache_serving(self, timeout: float = 10.0) -> bool:
        """Wait until the cache's watch is caught up (latest reads can be answered from
        memory); False after ``timeout`` s or when the cache is off."""
        deadline = time.monotonic() + timeout
        while self._cache is not None:
            if self._cache.serving:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return False

    def read_versioned(self, method: str, *args: Any, **kwargs: Any) -> tuple[Any, int]:
        """Run the read ``method`` ("get_node", "get_subtree", "get_children",
        "get_ancestors" or "get_document") with its arguments and return ``(result, the
        version it read)``, e.g. ``node, v = ts.read_versioned("get_node", "doc", "0007")``
        (through the read cache when on)."""
        return self._run(_calls.read_versioned(method, *args, **kwargs))

    # -- change feed ----------------------------------------------------------------------

    def watch(self, doc_ids: Optional[Iterable[str]] = None, *, prefix: str = "",
              resume_token: Optional[bytes] = None,
              from_versions: Optional[Mapping[str, int]] = None,
              include_contents: bool = False, auto_resume: bool = False,
              resume_policy: RetryPolicy = WATCH_RESUME) -> WatchStream:
        """Stream the changes of documents: a :class:`~treestore._watch.WatchStream` of
        :class:`~treestore.types.VersionEvent`, :class:`~treestore.types.DeleteEvent`,
        :class:`~treestore.types.CaughtUp` and :class:`~treestore.types.Lagged`::

            with client.watch(["fed-2019"]) as events:
                for event in events:
                    ...

        Select ``doc_ids`` (1..1000 ids, existing or not) or every id starting with
        ``prefix`` ("" and no ids = every document). Start after ``resume_token`` (an
        event's ``resume_token``: nothing at or before it again, nothing after it skipped,
        also across server restarts), after ``from_versions`` (doc_id -> last version seen;
        0 = the oldest change kept), or now (neither: CaughtUp comes first). Per document,
        events come in version order with no gaps, each once durable.
        ``include_contents``: version events carry the nodes added, updated and moved.
        ``auto_resume``: reconnect after UNAVAILABLE or a broken stream, continuing after
        the last event (see :mod:`treestore._watch`). The stream has no deadline; end it
        with ``cancel()`` or ``with``."""
        request = _calls.watch_request(doc_ids, prefix=prefix, resume_token=resume_token,
                                       from_versions=from_versions,
                                       include_contents=include_contents)
        return WatchStream(self._open_watch, request, auto_resume=auto_resume,
                           resume_policy=resume_policy)

    def _open_watch(self, request: Any) -> Any:
        return self._stub.Watch(request, metadata=self._metadata)

    # -- execution ------------------------------------------------------------------------

    def _run(self, call: Call[R]) -> R:
        cache = self._cache
        if cache is not None:
            response, pending = cache.begin(call)
            if response is not None:
                return call.parse(response)
            if pending is not None:
                try:
                    response = self._send(call)
                except BaseException:
                    cache.fail(pending)
                    raise
                cache.finish(pending, call, response)
                return call.parse(response)
        return call.parse(self._send(call))

    def _send(self, call: Call[Any]) -> Any:
        # the hot path of every RPC: one attempt; retries are in _retry
        timeout = self.timeout if call.timeout is None else call.timeout
        if timeout <= 0:
            raise _expired(call.method, timeout)
        started = _monotonic()
        try:
            response = getattr(self._stub, call.method)(call.request, timeout=timeout,
                                                        metadata=self._metadata)
        except grpc.RpcError as err:
            response = self._retry(call, err, timeout, started + timeout)
        return response

    def _retry(self, call: Call[Any], err: grpc.RpcError, timeout: float,
               deadline: float) -> Any:
        """After a failed attempt: retry an idempotent call on UNAVAILABLE with backoff
        while ``deadline`` (monotonic) allows; else raise the error as a TreeStoreError.
        Returns the response of the attempt that succeeded."""
        rpc = getattr(self._stub, call.method)
        retry_number = 0
        while True:
            time.sleep(_backoff(call, err, retry_number, self.retry, deadline))
            retry_number += 1
            try:
                return rpc(call.request, timeout=_remaining(call, timeout, deadline),
                           metadata=self._metadata)
            except grpc.RpcError as next_err:
                err = next_err

    # -- RPCs (signatures and docs come from treestore._calls) -----------------------------

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

    # -- conveniences ---------------------------------------------------------------------

    def iter_documents(self, *, id_prefix: str = "",
                       metadata_filter: Optional[Mapping[str, str]] = None,
                       page_size: int = 0) -> Iterator[Document]:
        """Iterate over every matching document, fetching pages as needed."""
        token = ""
        while True:
            page = self.list_documents(page_size=page_size, page_token=token,
                                       id_prefix=id_prefix, metadata_filter=metadata_filter)
            yield from page.items
            token = page.next_page_token
            if not token:
                return

    def iter_versions(self, doc_id: str, *, page_size: int = 0) -> Iterator[Version]:
        """Iterate over every version of a document, oldest first."""
        token = ""
        while True:
            page = self.list_versions(doc_id, page_size=page_size, page_token=token)
            yield from page.items
            token = page.next_page_token
            if not token:
                return

    def iter_search(self, query: str, *, doc_id: str = "", limit: int = 0,
                    max_hits: Optional[int] = None) -> Iterator[SearchHit]:
        """Iterate over search hits across pages (stops after ``max_hits`` when given)."""
        token, count = "", 0
        while True:
            page = self.search_nodes(query, doc_id=doc_id, limit=limit, page_token=token)
            for hit in page.items:
                if max_hits is not None and count >= max_hits:
                    return
                count += 1
                yield hit
            token = page.next_page_token
            if not token:
                return

    def get_tree(self, doc_id: str, *, include_text: bool = False,
                 version: Optional[int] = None, as_of: Optional[TimeLike] = None,
                 axis: str = "commit") -> tuple[Document, list[Node]]:
        """The document and its whole tree (``get_document(include_tree=True)``)."""
        return self.get_document(doc_id, include_tree=True, include_text=include_text,
                                 version=version, as_of=as_of, axis=axis)

    def transaction(self, doc_id: str, *, timeout_ms: Optional[int] = None,
                    message: str = "", effective_time: Optional[TimeLike] = None) -> "Transaction":
        """A transaction on one document, as a context manager::

            with client.transaction("doc") as tx:
                tx.insert_node("0001", {"node_id": "0042", "title": "New"})
                tx.update_node("0002", title="Renamed")
            print(tx.version)   # the committed Version

        Commits (with ``message``/``effective_time``) when the block succeeds; rolls back
        when it raises. A conflict at commit raises :class:`~treestore.errors.Conflict`.
        """
        return Transaction(self, doc_id, timeout_ms=timeout_ms, message=message,
                           effective_time=effective_time)


class _TransactionOps:
    """Reads and writes bound to one transaction (shared by the sync and async variants;
    on the async variant every method returns an awaitable)."""

    _client: Any
    doc_id: str
    info: Optional[TransactionInfo]

    @property
    def transaction_id(self) -> str:
        if self.info is None:
            raise TreeStoreError("transaction not started (use it as a context manager or call "
                                 "begin())")
        return self.info.transaction_id

    @property
    def snapshot_version(self) -> int:
        return self.info.snapshot_version if self.info else 0

    def put_document(self, roots: Any = (), **kwargs: Any) -> Any:
        """put_document on the transaction's document (see TreeStoreClient.put_document)."""
        return self._client.put_document(self.doc_id, roots, transaction_id=self.transaction_id,
                                         **kwargs)

    def insert_node(self, parent_id: str, node: Any, **kwargs: Any) -> Any:
        """insert_node inside the transaction."""
        return self._client.insert_node(self.doc_id, parent_id, node,
                                        transaction_id=self.transaction_id, **kwargs)

    def update_node(self, node_id: str, **kwargs: Any) -> Any:
        """update_node inside the transaction."""
        return self._client.update_node(self.doc_id, node_id, transaction_id=self.transaction_id,
                                        **kwargs)

    def move_node(self, node_id: str, new_parent_id: str, **kwargs: Any) -> Any:
        """move_node inside the transaction."""
        return self._client.move_node(self.doc_id, node_id, new_parent_id,
                                      transaction_id=self.transaction_id, **kwargs)

    def delete_node(self, node_id: str, **kwargs: Any) -> Any:
        """delete_node inside the transaction."""
        return self._client.delete_node(self.doc_id, node_id, transaction_id=self.transaction_id,
                                        **kwargs)

    def get_document(self, **kwargs: Any) -> Any:
        """get_document seeing the transaction's own writes."""
        return self._client.get_document(self.doc_id, transaction_id=self.transaction_id,
                                         **kwargs)

    def get_node(self, node_id: str, **kwargs: Any) -> Any:
        """get_node seeing the transaction's own writes."""
        return self._client.get_node(self.doc_id, node_id, transaction_id=self.transaction_id,
                                     **kwargs)

    def get_subtree(self, node_id: str = "", **kwargs: Any) -> Any:
        """get_subtree seeing the transaction's own writes."""
        return self._client.get_subtree(self.doc_id, node_id, transaction_id=self.transaction_id,
                                        **kwargs)

    def get_children(self, node_id: str = "", **kwargs: Any) -> Any:
        """get_children seeing the transaction's own writes."""
        return self._client.get_children(self.doc_id, node_id,
                                         transaction_id=self.transaction_id, **kwargs)

    def get_ancestors(self, node_id: str, **kwargs: Any) -> Any:
        """get_ancestors seeing the transaction's own writes."""
        return self._client.get_ancestors(self.doc_id, node_id,
                                          transaction_id=self.transaction_id, **kwargs)


class Transaction(_TransactionOps):
    """A transaction of :class:`TreeStoreClient` (see :meth:`TreeStoreClient.transaction`).

    After a successful commit ``version`` holds the committed :class:`Version`.
    """

    def __init__(self, client: TreeStoreClient, doc_id: str, *, timeout_ms: Optional[int] = None,
                 message: str = "", effective_time: Optional[TimeLike] = None) -> None:
        self._client = client
        self.doc_id = doc_id
        self.timeout_ms = timeout_ms
        self.message = message
        self.effective_time = effective_time
        self.info: Optional[TransactionInfo] = None
        self.version: Optional[Version] = None
        self.finished = False

    def begin(self) -> "Transaction":
        """Start the transaction (done by ``with``)."""
        self.info = self._client.begin_transaction(self.doc_id, timeout_ms=self.timeout_ms)
        return self

    def commit(self, *, message: Optional[str] = None,
               effective_time: Optional[TimeLike] = None) -> Version:
        """Commit now (raises Conflict on a conflict). Later ``with`` exit does nothing."""
        self.finished = True
        self.version = self._client.commit_transaction(
            self.transaction_id,
            message=self.message if message is None else message,
            effective_time=self.effective_time if effective_time is None else effective_time)
        return self.version

    def rollback(self) -> None:
        """Discard the writes (an unknown/expired transaction is ignored)."""
        self.finished = True
        try:
            self._client.rollback_transaction(self.transaction_id)
        except NotFound:
            pass

    def __enter__(self) -> "Transaction":
        return self.begin()

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        if self.finished:
            return
        if exc_type is None:
            self.commit()
        else:
            try:
                self.rollback()
            except TreeStoreError:
                pass  # keep the original exception


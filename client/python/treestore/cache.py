"""The client's read cache: version-coherent, kept current by a watch of every document.

Turn it on with ``TreeStoreClient(..., cache=CacheConfig(max_bytes=...))`` (or
:class:`~treestore.AsyncTreeStoreClient`); ``client.cache_stats()`` reports it. This module is
the coherence protocol only (no I/O): the clients call :meth:`ReadCache.begin` /
:meth:`ReadCache.finish` / :meth:`ReadCache.fail` around every RPC, and the feed
(``treestore._cache_feed``: a thread, or an asyncio task) hands it the events of its
``Watch(prefix="")`` stream.

What is cached: GetNode, GetSubtree, GetChildren, GetAncestors and GetDocument, outside
transactions, at the latest version or at an explicit version (not as of a time). Every
answer is stored under ``(method, request without read_at, version read)``
(``treestore._cached_calls``): a version never changes content, so such an entry is true
forever; entries leave only by LRU eviction within ``max_bytes`` (estimated as the
response's protobuf size plus the key).

Invariants (all state below is guarded by ``_lock``):

* ``_latest[doc]`` is never older than a version this cache has *learned* of ``doc``
  (from the feed, from its own writes, or from a read that qualifies, below), except for
  changes the feed has not delivered yet. It only moves forward, or is dropped (unknown).
* A latest read is answered from memory only when the feed is ``serving`` (its stream is
  up and has sent CaughtUp) and ``(key, _latest[doc])`` is stored. Otherwise it goes to the
  server; explicit-version reads are answered from memory whenever stored.
* A read's answer at version v sets ``_latest[doc] = v`` only if (1) the feed was anchored
  when the read was issued: it had received CaughtUp in the current generation, so every
  change after that point reaches this cache as an event (a stream that is down resumes
  from its token and replays what it missed); (2) nothing dropped everything since
  (``_floor``); (3) v is newer than ``_latest[doc]``; and (4) either no event for ``doc``,
  no write of this client to ``doc`` and no drop of ``doc`` happened while the read was in
  flight (the event for v+1 can arrive before the answer of v: per-document change
  sequence numbers ``_changed`` against the ticket taken at issue), or ``_latest[doc]`` is
  known and older than v (then every change delivered meanwhile was older than v: a newer
  version would have moved ``_latest`` past v, a deletion of it would have dropped it).
* Own writes (outside transactions, and commits) set ``_latest[doc]`` to at least their
  version under the same conditions, or drop it: a later latest read of this client never
  returns a version older than its own acknowledged write (read-your-writes).
* A DeleteEvent makes the document's latest unknown, unless a re-created version newer
  than the deleted one is already known; an own DeleteDocument, or an own write that failed
  (it may have committed), always does.
* ``_latest`` holds at most ``max_documents`` documents; the least recently used is dropped
  (a drop, like the others, voids the tickets of that document's calls in flight).
* ``Lagged(changes_lost=True)``, a resume the server refuses, or an unknown transaction
  committed: everything known as latest is dropped; after a refusal or a loss the feed
  starts over from "now" in a new generation and serves again after that stream's CaughtUp.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Optional

from . import _cached_calls as cc
from ._base import RetryPolicy
from ._calls import Call
from ._lru import ByteLRU
from ._proto import treestore_pb2 as pb

__all__ = ["CacheConfig", "ReadCacheStats", "ReadCache", "FEED_RECONNECT"]

#: Backoff of the feed's reconnections (it retries forever while the client is open).
FEED_RECONNECT = RetryPolicy(max_attempts=1 << 30, initial_backoff=0.05, max_backoff=2.0)

#: bytes added to a response's protobuf size for the Python objects around an entry
ENTRY_OVERHEAD = 200

# feed states
STARTING, CONNECTING, SERVING, DOWN, CLOSED = "starting", "connecting", "serving", "down", \
    "closed"


@dataclass(frozen=True)
class CacheConfig:
    """Settings of the read cache.

    Args:
        max_bytes: bound of the stored answers, estimated as each response's protobuf size
            plus its key (Python's objects take a few times that); least recently used
            first out.
        max_documents: documents whose latest version is remembered (least recently used
            forgotten: their next latest read goes to the server).
        reconnect: backoff of the watch's reconnections.
    """

    max_bytes: int = 64 * 1024 * 1024
    max_documents: int = 100_000
    reconnect: RetryPolicy = FEED_RECONNECT

    def __post_init__(self) -> None:
        if self.max_bytes < 0:
            raise ValueError("CacheConfig.max_bytes must be >= 0")
        if self.max_documents < 1:
            raise ValueError("CacheConfig.max_documents must be >= 1")


@dataclass(frozen=True)
class ReadCacheStats:
    """A snapshot of the read cache's counters.

    ``hits``: reads answered from memory (``hits_latest`` of them at the latest version);
    ``misses``: cacheable reads that went to the server; ``bypassed``: reads never cached
    (as of a time, inside a transaction). ``feed``: "starting", "connecting", "serving",
    "down" or "closed"; latest reads are answered from memory only while "serving"."""

    hits: int
    hits_latest: int
    misses: int
    bypassed: int
    entries: int
    bytes: int
    max_bytes: int
    evictions: int
    documents: int
    feed: str
    events: int
    connections: int
    resets: int

    @property
    def hit_rate(self) -> float:
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0


class _Pending:
    """A call in flight that the cache follows: its ticket is ``(seq, generation,
    anchored)`` as of its issue."""

    __slots__ = ("kind", "doc", "method", "data", "version", "seq", "generation", "anchored",
                 "txid")

    def __init__(self, kind: int, doc: Optional[str], method: str = "", data: bytes = b"",
                 version: int = 0) -> None:
        self.kind = kind
        self.doc = doc
        self.method = method
        self.data = data
        self.version = version
        self.seq = 0
        self.generation = 0
        self.anchored = False
        self.txid = ""


class ReadCache:
    """The cache's state and coherence rules (see the module doc); thread-safe."""

    def __init__(self, config: CacheConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._entries: ByteLRU[Any] = ByteLRU(config.max_bytes)
        self._latest: OrderedDict[str, int] = OrderedDict()  # recency order, bounded
        self._inflight: dict[str, int] = {}  # doc -> calls in flight that hold a ticket
        self._changed: dict[str, int] = {}  # doc (in flight) -> seq of its last change
        self._seq = 0
        self._floor = 0  # tickets taken before this seq are void
        self._generation = 0
        self._anchored = False
        self._state = STARTING
        self._txs: OrderedDict[str, str] = OrderedDict()  # transaction id -> doc_id
        self.resume_token: Optional[bytes] = None
        self._hits = self._hits_latest = self._misses = self._bypassed = 0
        self._events = self._connections = self._resets = 0

    # -- the client's side ----------------------------------------------------------------

    def begin(self, call: Call[Any]) -> tuple[Any, Optional[_Pending]]:
        """Before an RPC: ``(response, None)`` to answer from memory, ``(None, pending)``
        to send it and report with :meth:`finish`/:meth:`fail`, or ``(None, None)`` when
        the cache does not follow this call."""
        kind = cc.classify(call)
        if kind is None:
            if call.method in ("GetNode", "GetSubtree", "GetChildren", "GetAncestors",
                               "GetDocument"):
                with self._lock:
                    self._bypassed += 1
            return None, None
        if kind == cc.READ:
            method, data, version = cc.read_key(call)
            doc = call.request.doc_id
            with self._lock:
                if version:
                    response = self._entries.get((method, data, version))
                    if response is not None:
                        self._hits += 1
                        return response, None
                elif self._state == SERVING:
                    latest = self._latest.get(doc)
                    if latest is not None:
                        response = self._entries.get((method, data, latest))
                        if response is not None:
                            self._hits += 1
                            self._hits_latest += 1
                            self._latest.move_to_end(doc)
                            return response, None
                self._misses += 1
                return None, self._ticket(_Pending(kind, doc, method, data, version))
        if kind == cc.TX_COMMIT or kind == cc.TX_ROLLBACK:
            txid = call.request.transaction_id
            with self._lock:
                p = _Pending(kind, self._txs.get(txid))
                p.txid = txid
                return None, self._ticket(p)
        # WRITE, DELETE, TX_BEGIN: the document is in the request (PutDocument may leave it
        # to the server: then no other call of ours can be reading it)
        with self._lock:
            return None, self._ticket(_Pending(kind, call.request.doc_id or None))

    def finish(self, p: _Pending, call: Call[Any], response: Any) -> None:
        """After the RPC of ``p`` succeeded with ``response``."""
        with self._lock:
            try:
                kind = p.kind
                if kind == cc.READ:
                    self._store_read(p, response)
                elif kind == cc.WRITE:
                    doc, version = cc.write_doc_version(call, response)
                    if version:
                        self._learn_write(p, doc, version)
                elif kind == cc.DELETE:
                    self._forget(p.doc)
                elif kind == cc.TX_BEGIN:
                    self._txs[response.transaction_id] = call.request.doc_id
                    while len(self._txs) > self.config.max_documents:
                        self._txs.popitem(last=False)
                elif kind == cc.TX_COMMIT:
                    self._txs.pop(p.txid, None)
                    if p.doc is None:
                        self._forget_all()  # committed a transaction begun elsewhere
                    elif response.version.version:
                        self._learn_write(p, p.doc, response.version.version)
                elif kind == cc.TX_ROLLBACK:
                    self._txs.pop(p.txid, None)
            finally:
                self._release(p)

    def fail(self, p: _Pending) -> None:
        """After the RPC of ``p`` failed: a write may or may not have happened."""
        with self._lock:
            try:
                if p.kind in (cc.WRITE, cc.DELETE):
                    if p.doc is not None:
                        self._forget(p.doc)
                    # a PutDocument with a generated id created no id this client knows
                elif p.kind == cc.TX_COMMIT:
                    self._txs.pop(p.txid, None)
                    if p.doc is None:
                        self._forget_all()
                    else:
                        self._forget(p.doc)
                elif p.kind == cc.TX_ROLLBACK:
                    self._txs.pop(p.txid, None)
            finally:
                self._release(p)

    # -- the feed's side ------------------------------------------------------------------

    def feed_request(self) -> pb.WatchRequest:
        """The request of the feed's next stream: every document, after the last event
        received, or from now when none was (or after a reset)."""
        with self._lock:
            self._state = CONNECTING
            self._connections += 1
            req = pb.WatchRequest(prefix="")
            if self.resume_token is not None:
                req.resume_token = self.resume_token
            return req

    def feed_event(self, m: pb.WatchEvent) -> bool:
        """Apply one event of the feed's stream. False: the stream must be dropped and the
        feed start over from now (changes were lost)."""
        kind = m.WhichOneof("event")
        with self._lock:
            if self._state == CLOSED:
                return False
            self._events += 1
            if kind == "version":
                doc = m.version.doc_id
                version = m.version.version.version
                latest = self._latest.get(doc)
                if latest is not None and version > latest:
                    self._latest[doc] = version
                self._changed_now(doc)
            elif kind == "deleted":
                doc = m.deleted.doc_id
                latest = self._latest.get(doc)
                if latest is not None and latest <= m.deleted.last_version:
                    del self._latest[doc]
                self._changed_now(doc)
            elif kind == "caught_up":
                self._anchored = True
                self._state = SERVING
            elif kind == "lagged" and m.lagged.changes_lost:
                self._reset()
                return False
            self.resume_token = m.resume_token
            return True

    def feed_broken(self, *, resume_refused: bool) -> None:
        """The stream broke. Latest reads go to the server until the next stream's
        CaughtUp; ``resume_refused`` (the server rejected the resume token) also drops
        everything known as latest and starts a new generation from now."""
        with self._lock:
            if self._state == CLOSED:
                return
            self._state = DOWN
            if resume_refused:
                self._reset()

    def close(self) -> None:
        with self._lock:
            self._state = CLOSED

    # -- introspection ----------------------------------------------------------------------

    @property
    def serving(self) -> bool:
        """Latest reads may be answered from memory (the feed is up and caught up)."""
        return self._state == SERVING

    @property
    def feed_state(self) -> str:
        return self._state

    def stats(self) -> ReadCacheStats:
        with self._lock:
            return ReadCacheStats(
                hits=self._hits, hits_latest=self._hits_latest, misses=self._misses,
                bypassed=self._bypassed, entries=len(self._entries), bytes=self._entries.bytes,
                max_bytes=self._entries.max_bytes, evictions=self._entries.evictions,
                documents=len(self._latest), feed=self._state, events=self._events,
                connections=self._connections, resets=self._resets)

    def known_latest(self, doc_id: str) -> Optional[int]:
        """The latest version of ``doc_id`` this cache knows (None: unknown)."""
        with self._lock:
            return self._latest.get(doc_id)

    # -- rules (called with _lock held) ---------------------------------------------------

    def _ticket(self, p: _Pending) -> _Pending:
        p.seq = self._seq
        p.generation = self._generation
        p.anchored = self._anchored
        doc = p.doc
        if doc is not None:
            self._inflight[doc] = self._inflight.get(doc, 0) + 1
        return p

    def _release(self, p: _Pending) -> None:
        doc = p.doc
        if doc is None:
            return
        n = self._inflight.get(doc, 0) - 1
        if n > 0:
            self._inflight[doc] = n
        else:
            self._inflight.pop(doc, None)
            self._changed.pop(doc, None)

    def _may_learn(self, p: _Pending, doc: str, version: int) -> bool:
        """``version``, what the call of ``p`` saw of ``doc``, may become ``_latest[doc]``
        (the rule of the module doc)."""
        if not (p.anchored and p.generation == self._generation and p.seq >= self._floor):
            return False
        latest = self._latest.get(doc)
        if self._changed.get(doc, -1) <= p.seq:  # nothing happened to doc meanwhile
            return latest is None or version > latest
        return latest is not None and version > latest

    def _changed_now(self, doc: str) -> None:
        """Record a change of ``doc``: void the tickets of its calls in flight."""
        if doc in self._inflight:
            self._seq += 1
            self._changed[doc] = self._seq

    def _set_latest(self, doc: str, version: int) -> None:
        self._latest[doc] = version
        self._latest.move_to_end(doc)
        while len(self._latest) > self.config.max_documents:
            evicted, _ = self._latest.popitem(last=False)
            self._changed_now(evicted)

    def _store_read(self, p: _Pending, response: Any) -> None:
        version = cc.read_version(p.method, response)
        if not version:
            return
        size = response.ByteSize() + len(p.data) + ENTRY_OVERHEAD
        self._entries.put((p.method, p.data, version), response, size)
        if p.version == 0 and p.doc is not None and self._may_learn(p, p.doc, version):
            self._set_latest(p.doc, version)

    def _learn_write(self, p: _Pending, doc: str, version: int) -> None:
        if self._may_learn(p, doc, version):
            self._set_latest(doc, version)
        else:
            latest = self._latest.get(doc)
            if latest is not None and latest < version:
                del self._latest[doc]  # it would miss our write: ask the server next time
        self._changed_now(doc)

    def _forget(self, doc: Optional[str]) -> None:
        if doc is None:
            return
        self._latest.pop(doc, None)
        self._changed_now(doc)

    def _forget_all(self) -> None:
        self._latest.clear()
        self._seq += 1
        self._floor = self._seq

    def _reset(self) -> None:
        """Drop everything known as latest; the feed starts over from now."""
        self._forget_all()
        self._generation += 1
        self._anchored = False
        self.resume_token = None
        self._resets += 1
        if self._state != CLOSED:
            self._state = DOWN

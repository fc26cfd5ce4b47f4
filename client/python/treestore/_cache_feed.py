"""The read cache's feed: a ``Watch`` of every document (prefix "", no contents) whose events
keep the cache current (``treestore.cache``).

The blocking client runs it on a daemon thread (:class:`ThreadFeed`), the asyncio client as a
task on its loop (:class:`TaskFeed`). Both follow the same loop:

1. open ``Watch`` with the cache's request (after the last event's resume token, or from
   now);
2. hand every event to the cache (``ReadCache.feed_event``); when it says changes were lost,
   drop the stream and start over from now at once;
3. when the stream breaks, tell the cache (it stops answering latest reads from memory) and
   reconnect after a backoff (``CacheConfig.reconnect``), resuming from the token; a
   resume the server refuses (INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE: e.g. a
   token from another data directory) makes the cache drop what it knows as latest, and the
   next stream starts from now;
4. until the client is closed.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Optional, Sequence

import grpc

from .cache import ReadCache

__all__ = ["ThreadFeed", "TaskFeed"]

#: statuses of a resumed stream that mean the token will never be accepted
_REFUSED = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.OUT_OF_RANGE)


def _refused(request: Any, err: Optional[grpc.RpcError]) -> bool:
    return (err is not None and request.HasField("resume_token")
            and err.code() in _REFUSED)  # type: ignore[attr-defined]


class ThreadFeed:
    """The feed on a daemon thread, for :class:`~treestore.TreeStoreClient`."""

    def __init__(self, cache: ReadCache, stub: Any,
                 metadata: Optional[Sequence[tuple[str, str]]]) -> None:
        self._cache = cache
        self._stub = stub
        self._metadata = metadata
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards _call against close() from another thread
        self._call: Any = None
        self._thread = threading.Thread(target=self._run, name="treestore-cache-feed",
                                        daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the feed (cancels its stream) and wait for the thread."""
        self._stop.set()
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()
        self._cache.close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                request = self._cache.feed_request()
                try:
                    call = self._stub.Watch(request, metadata=self._metadata)
                except ValueError:  # the channel was closed
                    return
                with self._lock:
                    self._call = call
                if self._stop.is_set():
                    call.cancel()
                    return
                err: Optional[grpc.RpcError] = None
                try:
                    for message in call:
                        failures = 0
                        if not self._cache.feed_event(message):
                            call.cancel()  # changes lost: start over from now
                            break
                except grpc.RpcError as e:
                    err = e
                with self._lock:
                    self._call = None
                if self._stop.is_set():
                    return
                self._cache.feed_broken(resume_refused=_refused(request, err))
                delay = self._cache.config.reconnect.delay(failures)
                failures += 1
                if self._stop.wait(delay):
                    return
        finally:
            self._cache.close()


class TaskFeed:
    """The feed as an asyncio task, for :class:`~treestore.AsyncTreeStoreClient` (started
    by the client's first call, on the running loop)."""

    def __init__(self, cache: ReadCache, stub: Any,
                 metadata: Optional[Sequence[tuple[str, str]]]) -> None:
        self._cache = cache
        self._stub = stub
        self._metadata = metadata
        self._task: Optional[asyncio.Task[None]] = None
        self._closed = False

    def ensure_started(self) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(),
                                                                name="treestore-cache-feed")

    async def close(self) -> None:
        """Cancel the task and wait for it."""
        self._closed = True
        self._cache.close()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        failures = 0
        try:
            while not self._closed:
                request = self._cache.feed_request()
                err: Optional[grpc.RpcError] = None
                call = self._stub.Watch(request, metadata=self._metadata)
                try:
                    async for message in call:
                        failures = 0
                        if not self._cache.feed_event(message):
                            break  # changes lost: start over from now
                except grpc.RpcError as e:
                    err = e
                finally:
                    call.cancel()
                self._cache.feed_broken(resume_refused=_refused(request, err))
                await asyncio.sleep(self._cache.config.reconnect.delay(failures))
                failures += 1
        finally:
            self._cache.close()

"""Watch streams: the typed, optionally self-resuming iterators ``watch()`` returns.

A :class:`WatchStream` (blocking) or :class:`AsyncWatchStream` (asyncio) wraps the server
stream of one ``Watch`` call and yields :data:`~treestore.types.WatchEvent` objects. Both
remember the ``resume_token`` of the last event they yielded.

Auto-resume (``auto_resume=True``): when the stream breaks with UNAVAILABLE (server down or
restarting, a shard not serving) or ends without a status, the stream opens a new ``Watch``
with the same selection, starting just after the last event it yielded (its resume token),
or with the original start when it yielded nothing yet. Nothing is skipped and nothing is
delivered twice (the server's resume guarantee); each new stream sends its own
:class:`~treestore.types.CaughtUp`. It gives up, raising the last error, after
``resume_policy.max_attempts`` failed connections in a row (a connection that delivers an
event resets the count), sleeping ``resume_policy.delay(n)`` between them. Any other error
(INVALID_ARGUMENT, FAILED_PRECONDITION: e.g. a token from another data directory) is raised
at once.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator, Callable, Iterator, Optional

import grpc
import grpc.aio

from ._base import RetryPolicy
from ._proto import treestore_pb2 as pb
from .errors import Unavailable, from_rpc_error
from .types import WatchEvent, watch_event_from_proto

__all__ = ["WatchStream", "AsyncWatchStream", "WATCH_RESUME"]

#: Default reconnection policy of an auto-resuming watch: 8 connections in a row, 0.1 s
#: growing to 5 s apart (about 15 s in all).
WATCH_RESUME = RetryPolicy(max_attempts=8, initial_backoff=0.1, max_backoff=5.0)

_RESUMABLE = (grpc.StatusCode.UNAVAILABLE,)


class _Resumer:
    """The resume bookkeeping shared by both streams.

    Invariant: ``resume_token`` is the token of the last event handed to the consumer (None
    before the first); the request of the next connection starts just after it, so events
    reach the consumer exactly once and in order across reconnections."""

    def __init__(self, request: pb.WatchRequest, auto_resume: bool,
                 policy: RetryPolicy) -> None:
        self._request = request
        self.auto_resume = auto_resume
        self.policy = policy
        self.resume_token: Optional[bytes] = None
        self.failures = 0  # failed connections in a row
        self.connections = 0

    def next_request(self) -> pb.WatchRequest:
        self.connections += 1
        if self.resume_token is None:
            return self._request
        req = pb.WatchRequest()
        req.CopyFrom(self._request)
        req.resume_token = self.resume_token  # replaces from_versions (same oneof)
        return req

    def delivered(self, message: pb.WatchEvent) -> WatchEvent:
        event = watch_event_from_proto(message)
        self.resume_token = event.resume_token
        self.failures = 0
        return event

    def after_failure(self, err: Optional[grpc.RpcError]) -> float:
        """The sleep before reconnecting after the stream broke with ``err`` (None: it
        ended without a status); raises the error when the stream must not resume."""
        code = err.code() if err is not None else grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
        self.failures += 1
        if not self.auto_resume or code not in _RESUMABLE \
                or self.failures >= self.policy.max_attempts:
            if err is None:
                raise Unavailable("Watch: the stream ended without a status",
                                  code=grpc.StatusCode.UNAVAILABLE, method="Watch")
            raise from_rpc_error(err, "Watch") from err
        return self.policy.delay(self.failures - 1)


class WatchStream(Iterator[WatchEvent]):
    """An iterator of watch events (blocking). ``cancel()`` (any thread) or leaving a
    ``with`` block ends it: the iteration then stops. Errors raise
    :class:`~treestore.errors.TreeStoreError` (see the module doc for auto-resume)."""

    def __init__(self, open_stream: Callable[[pb.WatchRequest], Any], request: pb.WatchRequest,
                 *, auto_resume: bool = False, resume_policy: RetryPolicy = WATCH_RESUME) -> None:
        self._open = open_stream
        self._resumer = _Resumer(request, auto_resume, resume_policy)
        self._call: Any = None
        self._cancelled = threading.Event()
        self._lock = threading.Lock()  # guards _call against cancel() from another thread

    @property
    def resume_token(self) -> Optional[bytes]:
        """The token of the last event yielded (None before the first)."""
        return self._resumer.resume_token

    @property
    def connections(self) -> int:
        """Watch calls opened so far (1 + the reconnections of auto-resume)."""
        return self._resumer.connections

    def cancel(self) -> None:
        """End the stream (the server call is cancelled; iteration stops)."""
        self._cancelled.set()
        with self._lock:
            call = self._call
        if call is not None:
            call.cancel()

    def __enter__(self) -> "WatchStream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cancel()

    def __iter__(self) -> "WatchStream":
        return self

    def __next__(self) -> WatchEvent:
        while True:
            if self._cancelled.is_set():
                raise StopIteration
            call = self._call
            if call is None:
                call = self._open(self._resumer.next_request())
                with self._lock:
                    self._call = call
                if self._cancelled.is_set():  # cancel() ran before _call was set
                    call.cancel()
                    raise StopIteration
            err: Optional[grpc.RpcError] = None
            try:
                return self._resumer.delivered(next(call))
            except StopIteration:
                pass
            except grpc.RpcError as e:
                err = e
            with self._lock:
                self._call = None
            if self._cancelled.is_set():
                raise StopIteration
            if self._cancelled.wait(self._resumer.after_failure(err)):
                raise StopIteration


class AsyncWatchStream(AsyncIterator[WatchEvent]):
    """An async iterator of watch events (``async for``); see :class:`WatchStream`."""

    def __init__(self, open_stream: Callable[[pb.WatchRequest], Any], request: pb.WatchRequest,
                 *, auto_resume: bool = False, resume_policy: RetryPolicy = WATCH_RESUME) -> None:
        self._open = open_stream
        self._resumer = _Resumer(request, auto_resume, resume_policy)
        self._call: Any = None
        self._cancelled = False

    @property
    def resume_token(self) -> Optional[bytes]:
        """The token of the last event yielded (None before the first)."""
        return self._resumer.resume_token

    @property
    def connections(self) -> int:
        """Watch calls opened so far (1 + the reconnections of auto-resume)."""
        return self._resumer.connections

    def cancel(self) -> None:
        """End the stream (iteration stops)."""
        self._cancelled = True
        if self._call is not None:
            self._call.cancel()

    async def __aenter__(self) -> "AsyncWatchStream":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.cancel()

    def __aiter__(self) -> "AsyncWatchStream":
        return self

    async def __anext__(self) -> WatchEvent:
        while True:
            if self._cancelled:
                raise StopAsyncIteration
            if self._call is None:
                self._call = self._open(self._resumer.next_request())
            err: Optional[grpc.RpcError] = None
            try:
                message = await self._call.read()
            except asyncio.CancelledError:
                if self._cancelled:
                    raise StopAsyncIteration from None
                raise
            except grpc.RpcError as e:
                err = e
            else:
                if message is not grpc.aio.EOF:
                    return self._resumer.delivered(message)
                # EOF: a status ended the stream; an error status raises from code()
                code = await self._call.code()
                if code != grpc.StatusCode.OK and not self._cancelled:
                    err = _AioStatus(code, await self._call.details())
            self._call = None
            if self._cancelled:
                raise StopAsyncIteration
            await asyncio.sleep(self._resumer.after_failure(err))


class _AioStatus(grpc.RpcError):
    """The final status of an aio stream that ended with EOF, as an RpcError."""

    def __init__(self, code: grpc.StatusCode, details: Optional[str]) -> None:
        super().__init__(details)
        self._code = code
        self._details = details or ""

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


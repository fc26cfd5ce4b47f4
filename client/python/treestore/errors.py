"""Exceptions raised by the TreeStore client.

Every error is a :class:`TreeStoreError`; the subclass tells the gRPC status code:

=====================  ===========================  ===========================================
status code            exception                    typical cause
=====================  ===========================  ===========================================
NOT_FOUND              :class:`NotFound`            unknown document, node, version, transaction
ALREADY_EXISTS         :class:`AlreadyExists`       doc_id / node_id taken, duplicate reference
INVALID_ARGUMENT       :class:`InvalidArgument`     malformed argument (message names the field)
FAILED_PRECONDITION    :class:`FailedPrecondition`  e.g. moving a node under its own descendant
ABORTED                :class:`Conflict`            transaction conflict: retry it
RESOURCE_EXHAUSTED     :class:`ResourceExhausted`   backpressure or a size limit
UNAVAILABLE            :class:`Unavailable`         shard recovering/poisoned, server down
DEADLINE_EXCEEDED      :class:`DeadlineExceeded`    the call's timeout expired
DATA_LOSS              :class:`DataLoss`            stored data failed an integrity check
UNAUTHENTICATED        :class:`Unauthenticated`     missing, wrong or removed token/certificate
PERMISSION_DENIED      :class:`PermissionDenied`    the principal lacks the scope the call needs
INTERNAL, UNKNOWN,     :class:`Internal`            server bug / unexpected server failure
UNIMPLEMENTED
=====================  ===========================  ===========================================

Other codes (CANCELLED, ...) raise the base class :class:`TreeStoreError`.
"""

from __future__ import annotations

from typing import Optional

import grpc

__all__ = [
    "TreeStoreError",
    "NotFound",
    "AlreadyExists",
    "InvalidArgument",
    "FailedPrecondition",
    "Conflict",
    "ResourceExhausted",
    "Unavailable",
    "DeadlineExceeded",
    "DataLoss",
    "Internal",
    "from_rpc_error",
]


class TreeStoreError(Exception):
    """Base class of every error raised by the TreeStore client.

    Attributes:
        code: the gRPC status code (``None`` for errors detected by the client itself).
        details: the server's message (names the offending field for INVALID_ARGUMENT).
        method: the RPC name, e.g. ``"GetNode"`` (``None`` when not from an RPC).
    """

    grpc_code: Optional[grpc.StatusCode] = None

    def __init__(self, details: str = "", *, code: Optional[grpc.StatusCode] = None,
                 method: Optional[str] = None) -> None:
        self.details = details
        self.code = code if code is not None else self.grpc_code
        self.method = method
        super().__init__(details)

    def __str__(self) -> str:
        parts = []
        if self.method:
            parts.append(self.method)
        if self.code is not None:
            parts.append(self.code.name)
        prefix = " ".join(parts)
        return f"{prefix}: {self.details}" if prefix else self.details


class NotFound(TreeStoreError):
    """NOT_FOUND: the document, node, version, transaction or reference does not exist."""

    grpc_code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(TreeStoreError):
    """ALREADY_EXISTS: the id is taken or the cross reference exists."""

    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class InvalidArgument(TreeStoreError, ValueError):
    """INVALID_ARGUMENT (also raised by the client for arguments it can check itself)."""

    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class FailedPrecondition(TreeStoreError):
    """FAILED_PRECONDITION: the current state forbids the operation."""

    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class Conflict(TreeStoreError):
    """ABORTED: transaction conflict. Retry the transaction."""

    grpc_code = grpc.StatusCode.ABORTED


class ResourceExhausted(TreeStoreError):
    """RESOURCE_EXHAUSTED: backpressure (retry later) or a size limit (do not retry)."""

    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(TreeStoreError):
    """UNAVAILABLE: server unreachable, shard recovering or poisoned."""

    grpc_code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(TreeStoreError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's timeout expired (a write may or may not have committed)."""

    grpc_code = grpc.StatusCode.DEADLINE_EXCEEDED


class DataLoss(TreeStoreError):
    """DATA_LOSS: stored data failed an integrity check."""

    grpc_code = grpc.StatusCode.DATA_LOSS


class Unauthenticated(TreeStoreError):
    """UNAUTHENTICATED: no credential, or one the server does not accept (a wrong, removed or
    malformed token; a client certificate naming no principal)."""

    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(TreeStoreError):
    """PERMISSION_DENIED: the principal lacks the scope (read, write, admin) the call needs."""

    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class Internal(TreeStoreError):
    """INTERNAL / UNKNOWN / UNIMPLEMENTED: a server-side bug or an unexpected failure."""

    grpc_code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[TreeStoreError]] = {
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.DATA_LOSS: DataLoss,
    grpc.StatusCode.INTERNAL: Internal,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNKNOWN: Internal,
    grpc.StatusCode.UNIMPLEMENTED: Internal,
}


def error_class_for(code: Optional[grpc.StatusCode]) -> type[TreeStoreError]:
    """The exception class used for a gRPC status code."""
    if code is None:
        return TreeStoreError
    return _BY_CODE.get(code, TreeStoreError)


def from_rpc_error(err: grpc.RpcError, method: Optional[str] = None) -> TreeStoreError:
    """Convert a ``grpc.RpcError`` (sync or aio) to the matching :class:`TreeStoreError`."""
    code: Optional[grpc.StatusCode]
    try:
        code = err.code()  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover - defensive: not a Call
        code = None
    try:
        details = err.details() or ""  # type: ignore[attr-defined]
    except Exception:  # pragma: no cover
        details = str(err)
    cls = error_class_for(code)
    exc = cls(details, code=code, method=method)
    exc.__cause__ = err
    return exc

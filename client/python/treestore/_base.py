"""Configuration shared by the sync and async clients."""

from __future__ import annotations

import random
from dataclasses import dataclass
import os
from typing import Any, Optional, Sequence, Union

import grpc

DEFAULT_ADDRESS = "localhost:50051"
DEFAULT_TIMEOUT = 10.0
#: Matches the server's default message size limit (64 MiB).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """Retry with exponential backoff and jitter on UNAVAILABLE, for idempotent calls only
    (reads, get_tool_result, health, stats). Writes are never retried automatically.

    The total time of all attempts stays within the call's timeout.
    """

    max_attempts: int = 4  # including the first attempt; 1 disables retries
    initial_backoff: float = 0.05  # seconds
    max_backoff: float = 2.0  # seconds
    multiplier: float = 2.0
    jitter: float = 0.2  # +- fraction of the delay

    def delay(self, retry_number: int) -> float:
        """Delay before retry ``retry_number`` (0 = the first retry)."""
        base = min(self.max_backoff, self.initial_backoff * (self.multiplier ** retry_number))
        return max(0.0, base * (1 + random.uniform(-self.jitter, self.jitter)))


NO_RETRY = RetryPolicy(max_attempts=1)


def channel_options(extra: Optional[Sequence[tuple[str, Any]]] = None) -> list[tuple[str, Any]]:
    opts: list[tuple[str, Any]] = [
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ]
    if extra:
        opts.extend(extra)
    return opts


#: A PEM file's path, or its bytes.
PemSource = Union[str, "os.PathLike[str]", bytes]


def _pem(source: Optional[PemSource]) -> Optional[bytes]:
    if source is None or isinstance(source, bytes):
        return source
    with open(source, "rb") as f:
        return f.read()


# The metadata key naming the namespace a call works in (the server's default when absent).
NAMESPACE_HEADER = "treestore-namespace"


def security_settings(*, credentials: Optional[grpc.ChannelCredentials], tls: Optional[bool],
                      ca_cert: Optional[PemSource], client_cert: Optional[PemSource],
                      client_key: Optional[PemSource], server_name: Optional[str],
                      token: Optional[str], metadata: Optional[Sequence[tuple[str, str]]],
                      options: Optional[Sequence[tuple[str, Any]]],
                      namespace: Optional[str] = None,
                      ) -> tuple[Optional[grpc.ChannelCredentials], Optional[tuple[tuple[str, str], ...]],
                                 list[tuple[str, Any]]]:
    """The channel credentials, per-call metadata and channel options of a client's security
    arguments: TLS when ``tls`` is true or any of ``ca_cert``/``client_cert`` is given (the
    system's roots when ``ca_cert`` is None), a client certificate for mutual TLS, and a bearer
    token sent as ``authorization: Bearer <token>`` with every call, and the namespace (tenant)
    every call works in, sent as ``treestore-namespace`` (None: the server's ``default``)."""
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together")
    wants_tls = bool(tls) or ca_cert is not None or client_cert is not None
    if tls is False and (ca_cert is not None or client_cert is not None):
        raise ValueError("tls=False contradicts ca_cert/client_cert")
    if credentials is not None and wants_tls:
        raise ValueError("give either credentials or tls/ca_cert/client_cert, not both")
    if wants_tls:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_pem(ca_cert), private_key=_pem(client_key),
            certificate_chain=_pem(client_cert))
    md = list(metadata) if metadata else []
    if token is not None:
        if not token or any(c in token for c in "\r\n"):
            raise ValueError("token must be a non-empty single line")
        md.append(("authorization", f"Bearer {token}"))
    if namespace is not None:
        if not namespace or any(c in namespace for c in "\r\n"):
            raise ValueError("namespace must be a non-empty single line")
        if any(k == NAMESPACE_HEADER for k, _ in md):
            raise ValueError("give the namespace either as namespace= or in metadata, not both")
        md.append((NAMESPACE_HEADER, namespace))
    opts = channel_options(options)
    if server_name:
        opts.append(("grpc.ssl_target_name_override", server_name))
    return credentials, (tuple(md) if md else None), opts


def token_from_env() -> Optional[str]:
    """``TREESTORE_TOKEN``, or the contents of the file ``TREESTORE_TOKEN_FILE``."""
    token = os.environ.get("TREESTORE_TOKEN")
    if token:
        return token
    path = os.environ.get("TREESTORE_TOKEN_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    return None

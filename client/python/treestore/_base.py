"""Configuration shared by the sync and async clients."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Optional, Sequence

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

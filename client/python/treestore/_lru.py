"""A least-recently-used map bounded by the estimated bytes of its values.

Not thread-safe: the read cache (``treestore.cache``) calls it under its own lock.

Invariants:

* ``bytes`` is the sum of the sizes given to :meth:`put` for the keys present, and never
  exceeds ``max_bytes`` after a method returns (a value larger than ``max_bytes`` is not
  stored at all).
* Iteration order of ``_items`` is recency: the least recently used key first. ``get`` and
  ``put`` make a key the most recent.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Generic, Hashable, Optional, TypeVar

V = TypeVar("V")


class ByteLRU(Generic[V]):
    """Values with a size each; the least recently used go first when the sizes exceed
    ``max_bytes``."""

    __slots__ = ("max_bytes", "bytes", "evictions", "_items")

    def __init__(self, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> Optional[V]:
        """The value of ``key`` (now the most recent), or None."""
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: Hashable, value: V, size: int) -> bool:
        """Store ``value`` of ``size`` bytes under ``key`` (replacing an older value),
        evicting the least recently used until the bound holds. False when ``size`` alone
        exceeds ``max_bytes`` (nothing stored; an older value of ``key`` is dropped)."""
        old = self._items.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        if size > self.max_bytes:
            return False
        self._items[key] = (value, size)
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self.bytes -= dropped
            self.evictions += 1
        return True

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0

    def keys(self) -> list[Any]:
        """The keys, least recently used first (a copy)."""
        return list(self._items)

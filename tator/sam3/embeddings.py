"""Bounded cache of image embeddings keyed by (model key, image token).

An embedding is computed once per (image, model): concurrent requests for the same key wait for the one
computation instead of repeating it. Entries pinned by preload slots are never evicted; the rest are
dropped least-recently-used first when the entry count or byte budget is exceeded.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
CacheKey = tuple[str, str]  # (model key, image token)


@dataclass
class _Entry(Generic[T]):
    value: T
    nbytes: int


class EmbeddingCache(Generic[T]):
    """Thread-safe LRU of embeddings; `get_or_compute` returns (value, was_cached)."""

    def __init__(self, *, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[CacheKey, _Entry[T]] = OrderedDict()
        self._computing: dict[CacheKey, threading.Lock] = {}
        self._pins: dict[CacheKey, int] = {}
        self.computed = 0

    def get_or_compute(self, key: CacheKey, compute: Callable[[], T], nbytes: Callable[[T], int]) -> tuple[T, bool]:
        hit = self._lookup(key)
        if hit is not None:
            return hit.value, True
        with self._lock:
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            hit = self._lookup(key)
            if hit is not None:
                return hit.value, True
            try:
                value = compute()
            finally:
                with self._lock:
                    self._computing.pop(key, None)
            with self._lock:
                self.computed += 1
                self._items[key] = _Entry(value, nbytes(value))
                self._items.move_to_end(key)
                self._evict()
        return value, False

    def _lookup(self, key: CacheKey) -> _Entry[T] | None:
        with self._lock:
            entry = self._items.get(key)
            if entry is not None:
                self._items.move_to_end(key)
            return entry

    def _evict(self) -> None:
        """Drop unpinned LRU entries until both bounds hold; the newest entry (the one a caller is about to
        use) always stays (caller holds the lock)."""
        for key in list(self._items)[:-1]:
            if len(self._items) <= self.max_entries and self.nbytes <= self.max_bytes:
                return
            if self._pins.get(key, 0) == 0:
                del self._items[key]

    def contains(self, key: CacheKey) -> bool:
        with self._lock:
            return key in self._items

    def pin(self, key: CacheKey) -> None:
        with self._lock:
            self._pins[key] = self._pins.get(key, 0) + 1

    def unpin(self, key: CacheKey) -> None:
        with self._lock:
            left = self._pins.get(key, 0) - 1
            if left > 0:
                self._pins[key] = left
            else:
                self._pins.pop(key, None)
            self._evict()

    def entry_bytes(self, key: CacheKey) -> int:
        with self._lock:
            entry = self._items.get(key)
            return entry.nbytes if entry is not None else 0

    def drop_model(self, model_key: str) -> int:
        """Forget every embedding of one model (e.g. when it is replaced); returns how many were dropped."""
        with self._lock:
            keys = [k for k in self._items if k[0] == model_key]
            for key in keys:
                del self._items[key]
            return len(keys)

    def clear(self) -> int:
        """Forget every embedding, pinned ones too (their slots are emptied with them); returns how many."""
        with self._lock:
            dropped = len(self._items)
            self._items.clear()
            self._pins.clear()
            return dropped

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

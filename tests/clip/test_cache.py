"""The embedding cache: hits and misses, its byte bound with least-recently-used eviction, and purge."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tator.clip.cache import EmbeddingCache, cache_usage, purge

BOXES = np.zeros((1, 4), np.float32)


def _cache(root: Path, max_bytes: int, backbone: str = "bb") -> EmbeddingCache:
    return EmbeddingCache(root, backbone, "recipe", max_bytes=max_bytes)


def _age(cache: EmbeddingCache, key: str, seconds_ago: float) -> None:
    path = cache.folder / key[:2] / f"{key}.npz"
    stamp = path.stat().st_mtime - seconds_ago
    os.utime(path, (stamp, stamp))


def test_hit_and_miss_round_trip(tmp_path: Path) -> None:
    cache = _cache(tmp_path, 10**6)
    key = cache.key(b"image", BOXES)
    assert cache.get(key, 1) is None
    cache.put(key, np.ones((1, 8), np.float32))
    assert np.array_equal(cache.get(key, 1, 8), np.ones((1, 8), np.float32))
    assert cache.get(key, 2) is None  # a different box count is a miss
    assert (cache.stats.hits, cache.stats.misses) == (1, 2)


def test_byte_bound_evicts_least_recently_used_first(tmp_path: Path) -> None:
    probe = _cache(tmp_path / "probe", 10**6)
    probe.put("00probe", np.ones((4, 64), np.float32))
    entry = cache_usage(tmp_path / "probe").bytes
    bound = int(3.5 * entry)  # room for three entries across backbones (eviction goes down to 90%)
    cache = _cache(tmp_path / "cache", max_bytes=bound)
    other = _cache(tmp_path / "cache", max_bytes=bound, backbone="other")
    keys = [cache.key(bytes([i]), BOXES) for i in range(3)]
    for age, key in zip((30, 20, 10), keys, strict=True):
        cache.put(key, np.full((4, 64), age, np.float32))
        _age(cache, key, age)
    assert cache.get(keys[0], 4) is not None  # the oldest is used again: now the most recent
    other.put(other.key(b"new", BOXES), np.zeros((4, 64), np.float32))
    usage = cache_usage(tmp_path / "cache")
    assert usage.bytes <= bound and usage.files == 3
    assert cache.get(keys[1], 4) is None  # least recently used: evicted
    assert cache.get(keys[0], 4) is not None and cache.get(keys[2], 4) is not None


def test_zero_bound_or_disabled_writes_nothing_and_purge_empties(tmp_path: Path) -> None:
    for cache in (_cache(tmp_path, 0), EmbeddingCache(tmp_path, "bb", "r", max_bytes=10**6, enabled=False)):
        cache.put("abc", np.ones((1, 4), np.float32))
    assert cache_usage(tmp_path).files == 0
    cache = _cache(tmp_path, 10**6)
    cache.put(cache.key(b"x", BOXES), np.ones((1, 4), np.float32))
    size = cache_usage(tmp_path).bytes
    assert size > 0 and purge(tmp_path) == size and cache_usage(tmp_path).files == 0
    assert purge(tmp_path / "missing") == 0

"""The mining cache: keys change with the image file and the model, answers round-trip exactly, age and size
limits drop the oldest files first, and a purge empties it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tator.agent_mining.cache import MiningCache, enforce, image_key, purge


def test_answers_round_trip_and_keys_follow_the_image_and_model(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"one")
    cache = MiningCache(tmp_path / "cache", "sam3-a")
    key = cache.key(image_key(image), "text", "car", {"max_results": 10})
    assert cache.get(key) is None
    rows = [[1.0, 2.5, 3.0, 4.0, 0.123456789, 7.0]]
    cache.put(key, rows)
    assert cache.get(key) == rows
    assert MiningCache(tmp_path / "cache", "sam3-b").key(image_key(image), "text", "car", {"max_results": 10}) != key
    image.write_bytes(b"changed")
    assert cache.key(image_key(image), "text", "car", {"max_results": 10}) != key
    (cache.root / key[:2] / f"{key}.json").write_text("{not json")
    assert cache.get(key) is None


def test_limits_drop_the_oldest_and_purge_empties(tmp_path: Path) -> None:
    cache = MiningCache(tmp_path / "cache", "m")
    keys = [cache.key(str(n), "text", "p", {}) for n in range(4)]
    now = time.time()
    for age, key in zip((10 * 3600, 3, 2, 1), keys, strict=True):
        cache.put(key, [[0.0, 0.0, 1.0, 1.0, 0.5, 1.0]] * 5)
        path = cache.root / key[:2] / f"{key}.json"
        os.utime(path, (now - age, now - age))
    size = (cache.root / keys[1][:2] / f"{keys[1]}.json").stat().st_size
    total, files = enforce(cache.root, max_bytes=10**9, ttl_hours=1)
    assert (files, cache.get(keys[0])) == (3, None)
    total, files = enforce(cache.root, max_bytes=2 * size, ttl_hours=0)
    assert (total, files) == (2 * size, 2) and cache.get(keys[1]) is None and cache.get(keys[3]) is not None
    assert purge(cache.root) == (2 * size, 2)
    assert enforce(cache.root, max_bytes=10**9, ttl_hours=0) == (0, 0)


def test_a_purge_racing_a_job_only_costs_cache_misses(tmp_path: Path) -> None:
    """The purge route checks for active jobs, then purges; a job starting in between keeps writing: its
    folders are still there, and a write that fails anyway is a warning, not a failed job."""
    cache = MiningCache(tmp_path / "cache", "m")
    key = cache.key("img", "text", "p", {})
    assert cache.put(key, [[0.0, 0.0, 1.0, 1.0, 0.5, 1.0]])
    purge(cache.root)
    assert (cache.root / key[:2]).is_dir() and cache.get(key) is None
    assert cache.put(key, [[0.0, 0.0, 2.0, 2.0, 0.5, 4.0]]) and cache.get(key) == [[0.0, 0.0, 2.0, 2.0, 0.5, 4.0]]
    blocked = MiningCache(tmp_path / "file-not-dir", "m")
    blocked.root.write_text("a file where the cache folder should be")
    assert blocked.put(key, [[0.0, 0.0, 1.0, 1.0, 0.5, 1.0]]) is False

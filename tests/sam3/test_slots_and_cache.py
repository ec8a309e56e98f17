from __future__ import annotations

import threading
import time

import pytest

from tator.errors import PreloadSuperseded, SlotBusy, SlotDisabled
from tator.sam3.embeddings import EmbeddingCache
from tator.sam3.slots import PredictorSlots, SlotState


def test_cache_computes_once_under_concurrency() -> None:
    cache: EmbeddingCache[str] = EmbeddingCache(max_entries=4, max_bytes=1000)
    calls: list[int] = []

    def compute() -> str:
        calls.append(1)
        time.sleep(0.05)
        return "emb"

    results: list[tuple[str, bool]] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_compute(("m", "t"), compute, len)))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and sorted(hit for _, hit in results) == [False, True, True, True, True]


def test_cache_is_bounded_but_keeps_pinned_entries() -> None:
    cache: EmbeddingCache[bytes] = EmbeddingCache(max_entries=2, max_bytes=100)
    cache.get_or_compute(("m", "a"), lambda: b"x" * 10, len)
    cache.pin(("m", "a"))
    for token in "bcd":
        cache.get_or_compute(("m", token), lambda: b"x" * 10, len)
    assert cache.contains(("m", "a")) and cache.contains(("m", "d")) and len(cache) == 2
    cache.get_or_compute(("m", "e"), lambda: b"x" * 95, len)  # over the byte budget: the unpinned rest go
    assert cache.contains(("m", "a")) and cache.contains(("m", "e")) and len(cache) == 2
    cache.unpin(("m", "a"))
    assert not cache.contains(("m", "a"))


def test_a_preload_superseded_while_running_is_refused_and_not_installed() -> None:
    slots = PredictorSlots()
    slots.begin("current", 1)
    slots.begin("current", 2)
    assert slots.finish("current", 2, SlotState("current", token="new")) is None
    with pytest.raises(PreloadSuperseded):
        slots.finish("current", 1, SlotState("current", token="old"))
    state, _ = slots.describe()[0]
    assert state.token == "new" and not state.busy
    with pytest.raises(PreloadSuperseded):
        slots.begin("current", 1)


def test_disabled_and_busy_slots() -> None:
    slots = PredictorSlots(max_predictors=2)
    with pytest.raises(SlotDisabled):
        slots.begin("previous", None)
    slots.begin("next", None)
    slots.finish("next", None, SlotState("next", image_name="b", token="tb", variant="sam3"))
    slots.begin("next", None)
    with pytest.raises(SlotBusy):
        slots.activate("b", None)

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tator.errors import ModelBusy, ModelFamilyUnknown, ModelLoadFailed
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tests.fakes import FakeLoader, FakeModel


def make_registry(loader: FakeLoader, **kwargs: float) -> tuple[ModelRegistry, list[int]]:
    releases: list[int] = []
    registry = ModelRegistry(
        {"fake": loader},
        device=lambda: "cpu",
        max_loaded=int(kwargs.get("max_loaded", 4)),
        memory_budget_bytes=int(kwargs.get("budget", 0)),
        lock_timeout_s=kwargs.get("timeout", 5.0),
        release=lambda: releases.append(1),
    )
    return registry, releases


def spec(name: str) -> ModelSpec:
    return ModelSpec("fake", name)


def test_sixteen_threads_load_each_key_once() -> None:
    loader = FakeLoader(delay_s=0.2)
    registry, _ = make_registry(loader)
    barrier = threading.Barrier(16)

    def work(i: int) -> str:
        barrier.wait()
        with registry.use(spec(f"m{i % 2}"), exclusive=False) as model:
            return str(model.predict())

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(work, range(16)))
    assert sorted(set(results)) == ["fake:m0", "fake:m1"]
    assert loader.loads == {"fake:m0": 1, "fake:m1": 1}
    assert registry.load_count == 2


def test_slow_load_makes_waiters_busy_not_hang() -> None:
    loader = FakeLoader(delay_s=1.0)
    registry, _ = make_registry(loader, timeout=0.2)
    started = threading.Event()

    def first() -> None:
        started.set()
        registry.get(spec("slow"))

    thread = threading.Thread(target=first)
    thread.start()
    started.wait()
    time.sleep(0.05)
    t0 = time.perf_counter()
    with pytest.raises(ModelBusy):
        registry.get(spec("slow"))
    assert time.perf_counter() - t0 < 0.9
    thread.join()
    assert registry.is_loaded(spec("slow"))


def test_exclusive_use_serialises_and_times_out() -> None:
    registry, _ = make_registry(FakeLoader(), timeout=0.2)
    inside = threading.Event()
    leave = threading.Event()

    def holder() -> None:
        with registry.use(spec("a")):
            inside.set()
            leave.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    inside.wait()
    with pytest.raises(ModelBusy):
        with registry.use(spec("a")):
            pass
    leave.set()
    thread.join()
    with registry.use(spec("a")) as model:
        assert model.predict() == "fake:a"


def test_unload_during_use_is_deferred_until_lease_ends() -> None:
    loader = FakeLoader()
    registry, releases = make_registry(loader)
    with registry.use(spec("a")) as model:
        assert registry.unload("fake:a") is True
        assert not registry.is_loaded(spec("a"))
        assert model.predict() == "fake:a"  # still usable: release waits for the lease
        assert loader.released == []
    assert loader.released == ["fake:a"]
    assert releases == [1]
    # next use reloads
    with registry.use(spec("a")) as again:
        assert again is not model
    assert loader.loads["fake:a"] == 2


def test_concurrent_unload_all_while_sixteen_threads_use_models() -> None:
    loader = FakeLoader(delay_s=0.01)
    registry, _ = make_registry(loader, max_loaded=3)
    errors: list[BaseException] = []
    stop = threading.Event()

    def user(i: int) -> None:
        while not stop.is_set():
            try:
                with registry.use(spec(f"m{i % 5}"), exclusive=False) as model:
                    model.predict()
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)
                return

    threads = [threading.Thread(target=user, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        registry.unload_all()
        time.sleep(0.01)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert errors == []
    registry.unload_all()
    assert registry.describe() == []
    # every loaded model was released exactly once
    assert sorted(loader.released) == sorted(k for k, n in loader.loads.items() for _ in range(n))


def test_lru_eviction_by_count_and_pinning() -> None:
    loader = FakeLoader()
    registry, _ = make_registry(loader, max_loaded=2)
    registry.get(spec("a"))
    registry.pin("fake:a")
    registry.get(spec("b"))
    registry.get(spec("c"))
    assert [d.key for d in registry.describe()] == ["fake:a", "fake:c"]
    assert loader.released == ["fake:b"]


def test_lru_eviction_by_memory_budget() -> None:
    loader = FakeLoader(nbytes=600)
    registry, _ = make_registry(loader, max_loaded=10, budget=1000)
    registry.get(spec("a"))
    registry.get(spec("b"))
    assert [d.key for d in registry.describe()] == ["fake:b"]
    assert registry.describe()[0].bytes == 600


def test_no_count_bound_by_default() -> None:
    registry = ModelRegistry({"fake": FakeLoader()}, device=lambda: "cpu")
    for name in "abcdefgh":  # every family of a full prepass at once, and more
        registry.get(spec(name))
    assert len(registry.describe()) == 8


def test_each_device_keeps_within_its_own_budget() -> None:
    """Loading past one device's budget evicts the least recently used model on that device only."""
    loader = FakeLoader(nbytes=100)
    placed = {"device": "cpu"}
    budgets = {"cpu": 250, "cuda:0": 1000}
    registry = ModelRegistry(
        {"fake": loader}, device=lambda: placed["device"], device_budget=lambda device: budgets.get(device, 0)
    )
    registry.get(spec("c1"))
    registry.get(spec("c2"))
    registry.get(spec("c3"))  # 300 bytes on the CPU: c1 goes
    assert loader.released == ["fake:c1"]
    placed["device"] = "cuda:0"
    for i in range(10):  # 1000 bytes on the GPU: within its budget, and no CPU model goes for it
        registry.get(spec(f"g{i}"))
    assert loader.released == ["fake:c1"]
    registry.get(spec("g10"))  # 1100 bytes: the GPU's least recently used goes, not the older CPU models
    assert loader.released == ["fake:c1", "fake:g0"]
    placed["device"] = "mps"  # a device whose memory is unknown is unbounded
    for i in range(20):
        registry.get(spec(f"m{i}"))
    assert len(loader.released) == 2
    assert [d.key for d in registry.describe() if d.device == "cpu"] == ["fake:c2", "fake:c3"]


def test_a_total_budget_replaces_the_device_budgets() -> None:
    loader = FakeLoader(nbytes=100)
    placed = {"device": "cpu"}
    registry = ModelRegistry(
        {"fake": loader}, device=lambda: placed["device"], memory_budget_bytes=250, device_budget=lambda _d: 10**9
    )
    registry.get(spec("c1"))
    registry.get(spec("c2"))
    placed["device"] = "cuda:0"
    registry.get(spec("g1"))  # 300 bytes in all: the oldest goes, whatever its device
    assert loader.released == ["fake:c1"]


def test_lru_order_follows_use() -> None:
    registry, _ = make_registry(FakeLoader(), max_loaded=2)
    registry.get(spec("a"))
    registry.get(spec("b"))
    registry.get(spec("a"))
    registry.get(spec("c"))
    assert [d.key for d in registry.describe()] == ["fake:a", "fake:c"]


def test_load_failure_is_a_stable_error_and_not_cached() -> None:
    loader = FakeLoader(fail_with=ValueError("bad weights"))
    registry, _ = make_registry(loader)
    with pytest.raises(ModelLoadFailed, match="bad weights"):
        registry.get(spec("a"))
    loader.fail_with = None
    assert isinstance(registry.get(spec("a")).value, FakeModel)


def test_unknown_family() -> None:
    registry, _ = make_registry(FakeLoader())
    with pytest.raises(ModelFamilyUnknown):
        registry.get(ModelSpec("nope", "x"))


def test_spec_key_includes_options() -> None:
    assert ModelSpec("yolo", "a.pt", (("imgsz", "640"),)).key == "yolo:a.pt;imgsz=640"
    assert ModelSpec("yolo", "a.pt", (("imgsz", "640"),)).option("imgsz") == "640"


def test_unload_where_drops_only_matching_models() -> None:
    registry, releases = make_registry(FakeLoader())
    for name in ("runs/a/best.pt", "runs/b/best.pt", "runs/a/last.pt"):
        registry.get(spec(name))
    dropped = registry.unload_where(lambda s: s.source.startswith("runs/a/"))
    assert sorted(dropped) == ["fake:runs/a/best.pt", "fake:runs/a/last.pt"]
    assert [d.key for d in registry.describe()] == ["fake:runs/b/best.pt"]
    assert releases == [1]
    assert registry.unload_where(lambda s: False) == [] and releases == [1]

from __future__ import annotations

import os
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

from tator.errors import DeviceUnavailable
from tator.runtime import device, heap


def test_half_imported_torch_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # Another thread importing torch leaves a module without `cuda` in sys.modules for a while.
    half = types.ModuleType("torch")
    spec = ModuleSpec("torch", None)
    spec._initializing = True  # type: ignore[attr-defined]
    half.__spec__ = spec
    monkeypatch.setitem(sys.modules, "torch", half)
    assert device.imported_torch() is None
    device.release_memory()  # must not raise AttributeError
    assert device.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate")) is True
    assert device.is_out_of_memory(RuntimeError("shape mismatch")) is False


def test_resolve_device_on_cpu_host() -> None:
    assert device.resolve_device("cpu") == "cpu"
    if device.cuda_device_count() == 0:
        assert device.resolve_device("auto") == "cpu"
        with pytest.raises(DeviceUnavailable):
            device.resolve_device("cuda:0")


def test_trim_heap_runs_on_linux() -> None:
    if sys.platform.startswith("linux"):
        assert isinstance(heap.trim(), bool)


def test_cpu_memory_is_the_hosts_ram_within_the_container_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert 0 < device.device_memory_bytes("cpu") <= physical
    monkeypatch.setattr(device, "cgroup_memory_limit", lambda: 2**30)
    assert device.device_memory_bytes("cpu") == min(2**30, physical)
    assert device.device_budget(0.5)("cpu") == min(2**30, physical) // 2
    assert device.device_memory_bytes("mps") == 0  # unknown: the registry leaves it unbounded
    if not device.cuda_device_count():
        assert device.device_memory_bytes("cuda:0") == 0


def test_cgroup_limit_reads_v2_then_v1(tmp_path: Path) -> None:
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    assert device.cgroup_memory_limit((v2, v1)) == 0  # neither file
    v2.write_text("max\n")
    v1.write_text("9223372036854771712\n")  # v1's "no limit"
    assert device.cgroup_memory_limit((v2, v1)) == 0
    v1.write_text("4294967296\n")
    assert device.cgroup_memory_limit((v2, v1)) == 2**32
    v2.write_text("1073741824\n")
    assert device.cgroup_memory_limit((v2, v1)) == 2**30

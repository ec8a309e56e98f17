from __future__ import annotations

import sys
import types
from importlib.machinery import ModuleSpec

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

"""Device choice and memory hygiene. torch is imported only inside these functions."""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tator.errors import DeviceUnavailable
from tator.runtime import heap

log = logging.getLogger(__name__)


def _torch() -> Any | None:
    """torch if it is importable (it is in production; a fake-only test process may skip it)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency of the install
        return None
    return torch


def cuda_device_count() -> int:
    """Number of visible CUDA devices, 0 without CUDA."""
    torch = _torch()
    if torch is None or not torch.cuda.is_available():
        return 0
    return int(torch.cuda.device_count())


def resolve_device(requested: str) -> str:
    """Turn `auto | cpu | cuda | cuda:N` into a concrete device string, refusing absent GPUs."""
    requested = requested.strip().lower()
    if requested == "cpu":
        return "cpu"
    count = cuda_device_count()
    if requested == "auto":
        return "cuda:0" if count else "cpu"
    index = 0 if requested == "cuda" else int(requested.split(":", 1)[1])
    if index >= count:
        raise DeviceUnavailable(f"{requested} is not available ({count} CUDA devices)", device=requested)
    return f"cuda:{index}"


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    total_mb: float
    free_mb: float
    compute_capability: str


def gpu_inventory() -> list[GpuInfo]:
    """Name, memory and capability of each CUDA device (empty without CUDA)."""
    torch = _torch()
    devices: list[GpuInfo] = []
    for index in range(cuda_device_count()):
        assert torch is not None
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        devices.append(
            GpuInfo(
                index=index,
                name=str(props.name),
                total_mb=round(total / 2**20, 2),
                free_mb=round(free / 2**20, 2),
                compute_capability=f"{props.major}.{props.minor}",
            )
        )
    return devices


def device_memory_bytes(device: str) -> int:
    """The memory of a device, in bytes: a CUDA device's total, or for the CPU the host's RAM within the
    container's cgroup limit when there is one; 0 when it cannot be told."""
    if device.startswith("cuda"):
        torch = _torch()
        if torch is None or not cuda_device_count():
            return 0
        index = int(device.partition(":")[2] or torch.cuda.current_device())
        return int(torch.cuda.get_device_properties(index).total_memory)
    if device != "cpu":
        return 0
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        physical = 0
    limits = [limit for limit in (cgroup_memory_limit(), physical) if limit > 0]
    return min(limits, default=0)


def device_budget(fraction: float) -> Callable[[str], int]:
    """Bytes the resident models may hold on a device: `fraction` of its memory (0, unbounded, when unknown);
    each device is asked once."""

    @functools.cache
    def budget(device: str) -> int:
        return int(device_memory_bytes(device) * fraction)

    return budget


CGROUP_LIMIT_FILES = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def cgroup_memory_limit(files: tuple[Path, ...] = CGROUP_LIMIT_FILES) -> int:
    """The container's memory limit (cgroup v2, then v1), 0 when unlimited or absent."""
    for path in files:
        try:
            text = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if text.isdigit() and 0 < int(text) < 2**60:  # v1 writes a huge number for "no limit"
            return int(text)
    return 0


def module_bytes(*modules: Any) -> int:
    """Bytes held by the parameters and buffers of torch modules (each tensor counted once)."""
    seen: set[int] = set()
    total = 0
    for module in modules:
        tensors = list(module.parameters()) + list(module.buffers())
        for tensor in tensors:
            if id(tensor) not in seen:
                seen.add(id(tensor))
                total += tensor.numel() * tensor.element_size()
    return total


def imported_torch() -> Any | None:
    """torch if some code already imported it completely; never triggers (or races) the import."""
    torch = sys.modules.get("torch")
    # While another thread is still importing torch, its module object exists but is half-built.
    if torch is None or getattr(getattr(torch, "__spec__", None), "_initializing", False):
        return None
    return torch if hasattr(torch, "cuda") else None


def release_memory() -> None:
    """Collect garbage, empty the CUDA cache (only when torch is already imported) and trim the heap."""
    gc.collect()
    torch = imported_torch()
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.ipc_collect()
    heap.trim()


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a CUDA out-of-memory error (matched by type when torch is loaded, else by message)."""
    torch = imported_torch()
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return "out of memory" in str(exc).lower() and "cuda" in str(exc).lower()

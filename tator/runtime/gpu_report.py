"""The /system/gpu report, read through NVML so that it never needs to import torch."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from tator.runtime.device import GpuInfo


def gpu_report() -> dict[str, Any]:
    """`{available, device_count, devices: [...], error?}`; never raises."""
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # no driver, no library: a CPU host
        return {"available": False, "device_count": 0, "devices": [], "error": f"{type(exc).__name__}: {exc}"}
    try:
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            devices.append(
                asdict(
                    GpuInfo(
                        index=index,
                        name=name.decode() if isinstance(name, bytes) else str(name),
                        total_mb=round(memory.total / 2**20, 2),
                        free_mb=round(memory.free / 2**20, 2),
                        compute_capability=f"{major}.{minor}",
                    )
                )
            )
        return {"available": bool(devices), "device_count": len(devices), "devices": devices}
    except Exception as exc:
        return {"available": False, "device_count": 0, "devices": [], "error": f"{type(exc).__name__}: {exc}"}
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass


def visible_cuda_devices() -> list[str]:
    """`cuda:0..N-1` for the devices this process may use (NVML count, narrowed by
    CUDA_VISIBLE_DEVICES), without importing torch; empty on a host without NVIDIA driver."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            count = int(pynvml.nvmlDeviceGetCount())
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [e.strip() for e in visible.split(",") if e.strip()]
        # CUDA stops at the first invalid entry; "-1" or "" hides every device.
        valid = []
        for entry in entries:
            if not (entry.isdigit() and int(entry) < count) and not entry.startswith(("GPU-", "MIG-")):
                break
            valid.append(entry)
        count = len(valid)
    return [f"cuda:{i}" for i in range(count)]

"""The /system/gpu report, read through NVML so that it never needs to import torch."""

from __future__ import annotations

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
            devices.append(asdict(GpuInfo(
                index=index,
                name=name.decode() if isinstance(name, bytes) else str(name),
                total_mb=round(memory.total / 2**20, 2),
                free_mb=round(memory.free / 2**20, 2),
                compute_capability=f"{major}.{minor}",
            )))
        return {"available": bool(devices), "device_count": len(devices), "devices": devices}
    except Exception as exc:
        return {"available": False, "device_count": 0, "devices": [], "error": f"{type(exc).__name__}: {exc}"}
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass

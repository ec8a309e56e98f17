"""Per-device scheduling: how many jobs may run on each CUDA device and in the CPU pool."""

from __future__ import annotations

import threading

from tator.errors import DeviceUnavailable

CPU = "cpu"
PROBE_WAIT_S = 60.0


class DeviceSlots:
    """Counts free slots; `gpu` work takes the least busy CUDA device, or the CPU pool without one.

    The CUDA inventory may arrive after construction (`set_gpu_devices`), because probing it imports
    torch, which must stay off the server's start-up path; GPU work waits for it.
    """

    def __init__(self, *, jobs_per_gpu: int, cpu_workers: int, gpu_devices: list[str] | None = None) -> None:
        self._jobs_per_gpu = jobs_per_gpu
        self.capacity: dict[str, int] = {CPU: cpu_workers}
        self.busy: dict[str, int] = {CPU: 0}
        self.gpu_devices: list[str] = []
        self._known = threading.Event()
        if gpu_devices is not None:
            self.set_gpu_devices(gpu_devices)

    def set_gpu_devices(self, devices: list[str]) -> None:
        for device in devices:
            self.capacity.setdefault(device, self._jobs_per_gpu)
            self.busy.setdefault(device, 0)
        self.gpu_devices = list(devices)
        self._known.set()

    def candidates(self, resource: str, device: str | None) -> list[str]:
        """Devices a job may run on, in preference order. Raises for a device that does not exist."""
        if resource == "gpu" or (device is not None and device != CPU):
            self._known.wait(PROBE_WAIT_S)
        if device is not None:
            if device not in self.capacity:
                raise DeviceUnavailable(f"device {device} is not available here", device=device)
            return [device]
        if resource == "gpu" and self.gpu_devices:
            return sorted(self.gpu_devices, key=lambda d: self.busy[d])
        return [CPU]

    def take(self, candidates: list[str]) -> str | None:
        for device in candidates:
            if self.busy[device] < self.capacity[device]:
                self.busy[device] += 1
                return device
        return None

    def give_back(self, device: str) -> None:
        self.busy[device] = max(0, self.busy[device] - 1)

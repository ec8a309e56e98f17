"""Per-device scheduling: how many jobs may run on each CUDA device and in the CPU pool."""

from __future__ import annotations

from tator.errors import DeviceUnavailable

CPU = "cpu"


class DeviceSlots:
    """Counts free slots; `gpu` work takes the least busy CUDA device, or the CPU pool without one.
    The caller holds the job manager's lock around every method."""

    def __init__(self, *, jobs_per_gpu: int, cpu_workers: int, gpu_devices: list[str]) -> None:
        self.gpu_devices = list(gpu_devices)
        self.capacity: dict[str, int] = dict.fromkeys(gpu_devices, jobs_per_gpu)
        self.capacity[CPU] = cpu_workers
        self.busy: dict[str, int] = dict.fromkeys(self.capacity, 0)

    def candidates(self, resource: str, device: str | None) -> list[str]:
        """Devices a job may run on, in preference order. Raises for a device that does not exist."""
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

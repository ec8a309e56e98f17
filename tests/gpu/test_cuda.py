"""CUDA paths: device placement, memory release on unload, scheduling on real devices.

Marked `gpu`: skipped on machines without CUDA (see tests/conftest.py), run on a lent GPU machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tator.runtime.device import cuda_device_count, device_budget, device_memory_bytes, resolve_device
from tator.runtime.gpu_report import gpu_report, visible_cuda_devices
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.yolo import loader as yolo_loader
from tator.yolo.infer import YoloOptions, batch_detector

pytestmark = pytest.mark.gpu


def test_inventory_agrees_between_nvml_and_torch() -> None:
    report = gpu_report()
    assert report["available"] is True and report["device_count"] >= 1
    assert len(visible_cuda_devices()) == cuda_device_count()
    assert resolve_device("auto") == "cuda:0"


def test_model_budget_is_a_share_of_each_gpus_memory() -> None:
    import torch

    for index in range(cuda_device_count()):
        total = torch.cuda.get_device_properties(index).total_memory
        assert device_memory_bytes(f"cuda:{index}") == total
        assert device_budget(0.5)(f"cuda:{index}") == total // 2
    assert device_memory_bytes("cuda") == torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory


def test_yolo_loads_on_cuda_and_unload_returns_memory(tiny_zoo: dict[str, Path]) -> None:
    import torch

    registry = ModelRegistry({"yolo": yolo_loader.load}, device=lambda: "cuda:0")
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated(0)
    spec = ModelSpec("yolo", str(tiny_zoo["yolo"]))
    with registry.use(spec) as handle:
        assert next(handle.model.model.parameters()).device.type == "cuda"
        image = np.random.default_rng(0).integers(0, 255, (640, 640, 3), dtype=np.uint8)
        found = batch_detector(handle, YoloOptions(conf=0.001))([image, image])
        assert len(found) == 2
    assert torch.cuda.memory_allocated(0) > before
    registry.unload_all()
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated(0) <= before + 1024 * 1024


def test_heavy_jobs_are_scheduled_on_cuda_slots(tmp_path: Path) -> None:
    from pydantic import BaseModel

    from tator.jobs.context import JobContext
    from tator.jobs.executor import ThreadExecutor
    from tator.jobs.manager import JobManager
    from tator.jobs.slots import DeviceSlots
    from tator.jobs.store import JobStore
    from tator.storage.db import Database

    class Empty(BaseModel):
        pass

    def report_device(_params: Empty, ctx: JobContext) -> dict[str, str]:
        return {"device": ctx.device}

    slots = DeviceSlots(jobs_per_gpu=1, cpu_workers=1, gpu_devices=visible_cuda_devices())
    jobs = JobManager(JobStore(Database(tmp_path / "db")), ThreadExecutor(), slots, run_root=tmp_path / "runs")
    record = jobs.submit("test.gpu", report_device, Empty(), resource="gpu")
    done = jobs.wait(record.job_id, 30)
    assert done.result == {"device": "cuda:0"}
    jobs.shutdown()

"""Job functions for the Ray executor tests (module-level, so Ray workers import them by reference)."""

from __future__ import annotations

import os
import time

from pydantic import BaseModel

from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind


class Nap(BaseModel):
    seconds: float = 1.0


class Napped(BaseModel):
    slept: float
    pid: int


def nap(params: Nap, ctx: JobContext) -> Napped:
    """Sleep in small steps, reporting progress and a metric, honouring cancel at every step."""
    ctx.log(f"pid {os.getpid()}")
    started, step = time.monotonic(), 0
    while time.monotonic() - started < params.seconds:
        ctx.checkpoint()
        step += 1
        ctx.progress(min(0.99, (time.monotonic() - started) / params.seconds), f"step {step}", phase="nap")
        ctx.metric("steps", step, float(step))
        time.sleep(0.05)
    (ctx.run_dir / "napped.txt").write_text(str(params.seconds))
    return Napped(slept=params.seconds, pid=os.getpid())


NAP = JobKind("test.nap", nap, Nap, Napped, resource="cpu")


class Where(BaseModel):
    device: str
    cuda_visible_devices: str | None
    cuda_available: bool


def where(params: Nap, ctx: JobContext) -> Where:
    """Report the device Ray gave this job."""
    import torch

    del params
    return Where(device=ctx.device, cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
                 cuda_available=torch.cuda.is_available())  # fmt: skip


WHERE = JobKind("test.where", where, Nap, Where, resource="gpu")

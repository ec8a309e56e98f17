from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tator.errors import DeviceUnavailable, InvalidId, JobNotCancellable, JobNotFound, JobStartFailed, TatorError
from tator.jobs.context import JobContext
from tator.jobs.executor import ThreadExecutor
from tator.jobs.manager import JobManager
from tator.jobs.slots import DeviceSlots
from tator.jobs.store import JobStore
from tator.jobs.types import JobStatus
from tator.storage.db import Database


class Steps(BaseModel):
    steps: int = 5
    delay: float = 0.0


class Failing(TatorError):
    code, status = "test_job_failure", 400


def counting_job(params: Steps, ctx: JobContext) -> dict[str, Any]:
    for step in range(params.steps):
        ctx.checkpoint()
        ctx.progress((step + 1) / params.steps, f"step {step + 1}", phase="train")
        ctx.metric("loss", step, 1.0 / (step + 1))
        ctx.log(f"did step {step}")
        time.sleep(params.delay)
    (ctx.run_dir / "out.txt").write_text("done")
    return {"steps": params.steps}


def make_manager(db_path: Path, run_root: Path, *, cpu_workers: int = 1, gpus: list[str] | None = None) -> JobManager:
    slots = DeviceSlots(jobs_per_gpu=1, cpu_workers=cpu_workers, gpu_devices=gpus or [])
    return JobManager(JobStore(Database(db_path)), ThreadExecutor(), slots, run_root=run_root, flush_interval_s=0.0)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[JobManager]:
    jobs = make_manager(tmp_path / "db.sqlite3", tmp_path / "runs")
    yield jobs
    jobs.shutdown(timeout=5)


def test_job_runs_to_success_with_progress_metrics_and_log(manager: JobManager) -> None:
    record = manager.submit("test.count", counting_job, Steps(steps=4))
    assert record.status == JobStatus.QUEUED
    done = manager.wait(record.job_id, 10)
    assert done.status == JobStatus.SUCCEEDED
    assert done.progress == 1.0
    assert done.result == {"steps": 4}
    assert done.phase == "train"
    assert [p.value for p in done.metrics["loss"]] == [1.0, 0.5, pytest.approx(1 / 3), 0.25]
    assert [line.message for line in done.logs][-1] == "did step 3"
    assert done.started_at is not None and done.finished_at is not None
    assert (Path(done.run_dir or "") / "out.txt").read_text() == "done"
    assert "did step 0" in (Path(done.run_dir or "") / "job.log").read_text()


def test_progress_is_clamped_and_nan_ignored(manager: JobManager) -> None:
    seen: list[float] = []

    def job(_params: Steps, ctx: JobContext) -> None:
        ctx.progress(0.5)
        ctx.progress(float("nan"))
        seen.append(manager.get(ctx.job_id).progress)
        ctx.progress(7.0)
        seen.append(manager.get(ctx.job_id).progress)
        ctx.progress(-1.0)
        seen.append(manager.get(ctx.job_id).progress)

    record = manager.submit("test.clamp", job, Steps())
    manager.wait(record.job_id, 5)
    assert seen == [0.5, 1.0, 0.0]


def test_log_is_bounded(tmp_path: Path) -> None:
    jobs = JobManager(
        JobStore(Database(tmp_path / "db.sqlite3")),
        ThreadExecutor(),
        DeviceSlots(jobs_per_gpu=1, cpu_workers=1, gpu_devices=[]),
        run_root=tmp_path / "runs",
        log_lines=10,
    )

    def chatty(_params: Steps, ctx: JobContext) -> None:
        for i in range(100):
            ctx.log(f"line {i}")

    record = jobs.submit("test.chatty", chatty, Steps())
    done = jobs.wait(record.job_id, 5)
    assert [line.message for line in done.logs] == [f"line {i}" for i in range(90, 100)]
    jobs.shutdown()


def test_cancel_running_job_between_steps(manager: JobManager) -> None:
    record = manager.submit("test.count", counting_job, Steps(steps=1000, delay=0.01))
    deadline = time.monotonic() + 5
    while manager.get(record.job_id).status != JobStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(0.01)
    cancelling = manager.cancel(record.job_id)
    assert cancelling.status == JobStatus.CANCELLING
    done = manager.wait(record.job_id, 5)
    assert done.status == JobStatus.CANCELLED
    assert done.progress < 1.0
    with pytest.raises(JobNotCancellable):
        manager.cancel(record.job_id)


def test_queued_job_is_cancelled_at_once_and_never_runs(manager: JobManager) -> None:
    ran: list[str] = []
    blocker = manager.submit("test.count", counting_job, Steps(steps=200, delay=0.01))

    def record_run(_params: Steps, ctx: JobContext) -> None:
        ran.append(ctx.job_id)

    queued = manager.submit("test.second", record_run, Steps())
    assert manager.get(queued.job_id).status == JobStatus.QUEUED  # one CPU slot: waits for the blocker
    assert manager.cancel(queued.job_id).status == JobStatus.CANCELLED
    manager.cancel(blocker.job_id)
    manager.wait(blocker.job_id, 5)
    time.sleep(0.1)
    assert ran == []


def test_one_heavy_job_per_device_then_next_starts(tmp_path: Path) -> None:
    jobs = make_manager(tmp_path / "db.sqlite3", tmp_path / "runs", gpus=["cuda:0"])
    running = threading.Semaphore(0)
    concurrent: list[int] = []
    active = [0]
    lock = threading.Lock()

    def heavy(_params: Steps, ctx: JobContext) -> dict[str, str]:
        with lock:
            active[0] += 1
            concurrent.append(active[0])
        running.release()
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        return {"device": ctx.device}

    records = [jobs.submit("test.heavy", heavy, Steps(), resource="gpu") for _ in range(3)]
    done = [jobs.wait(r.job_id, 10) for r in records]
    assert all(d.status == JobStatus.SUCCEEDED for d in done)
    assert max(concurrent) == 1
    assert {d.result["device"] for d in done if d.result} == {"cuda:0"}
    jobs.shutdown()


def test_cpu_pool_runs_jobs_in_parallel(tmp_path: Path) -> None:
    jobs = make_manager(tmp_path / "db.sqlite3", tmp_path / "runs", cpu_workers=3)
    barrier = threading.Barrier(3, timeout=5)

    def meet(_params: Steps, _ctx: JobContext) -> None:
        barrier.wait()  # only passes if all three run at once

    records = [jobs.submit("test.meet", meet, Steps()) for _ in range(3)]
    assert all(jobs.wait(r.job_id, 10).status == JobStatus.SUCCEEDED for r in records)
    jobs.shutdown()


def test_preflight_failure_leaves_nothing(manager: JobManager) -> None:
    def preflight() -> None:
        raise InvalidId("bad dataset id")

    with pytest.raises(InvalidId):
        manager.submit("test.count", counting_job, Steps(), preflight=preflight)
    assert manager.list() == []


def test_unknown_device_is_refused_before_queueing(manager: JobManager) -> None:
    with pytest.raises(DeviceUnavailable):
        manager.submit("test.count", counting_job, Steps(), device="cuda:7")
    assert manager.list() == []


def test_start_failure_rolls_back(tmp_path: Path) -> None:
    class BrokenExecutor(ThreadExecutor):
        def start(self, job_id: str, work: Any) -> None:
            raise RuntimeError("cannot start threads")

    jobs = JobManager(
        JobStore(Database(tmp_path / "db.sqlite3")),
        BrokenExecutor(),
        DeviceSlots(jobs_per_gpu=1, cpu_workers=1, gpu_devices=[]),
        run_root=tmp_path / "runs",
    )
    with pytest.raises(JobStartFailed):
        jobs.submit("test.count", counting_job, Steps())
    assert jobs.list() == []
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


def test_job_errors_are_recorded_with_codes(manager: JobManager) -> None:
    def fails(_params: Steps, _ctx: JobContext) -> None:
        raise Failing("the dataset has no boxes")

    def crashes(_params: Steps, _ctx: JobContext) -> None:
        raise KeyError("oops")

    a = manager.wait(manager.submit("test.fail", fails, Steps()).job_id, 5)
    b = manager.wait(manager.submit("test.crash", crashes, Steps()).job_id, 5)
    assert a.status == JobStatus.FAILED and a.error is not None
    assert (a.error.code, a.error.message) == ("test_job_failure", "the dataset has no boxes")
    assert b.status == JobStatus.FAILED and b.error is not None
    assert b.error.code == "internal_error" and "KeyError" in b.error.message


def test_get_list_and_kind_filter(manager: JobManager) -> None:
    a = manager.submit("kind.a", counting_job, Steps(steps=1))
    b = manager.submit("kind.b", counting_job, Steps(steps=1))
    manager.wait(a.job_id, 5)
    manager.wait(b.job_id, 5)
    assert [r.job_id for r in manager.list()] == [b.job_id, a.job_id]
    assert [r.job_id for r in manager.list(kinds=("kind.a",))] == [a.job_id]
    with pytest.raises(JobNotFound):
        manager.get(a.job_id, kinds=("kind.b",))
    with pytest.raises(JobNotFound):
        manager.get("nope")


def test_restart_marks_unfinished_jobs_interrupted(tmp_path: Path) -> None:
    db_path = tmp_path / "db.sqlite3"
    first = make_manager(db_path, tmp_path / "runs")
    gate = threading.Event()

    def waits(_params: Steps, ctx: JobContext) -> None:
        ctx.progress(0.3, "working")
        gate.wait(10)

    finished = first.submit("test.count", counting_job, Steps(steps=1))
    first.wait(finished.job_id, 5)
    running = first.submit("test.wait", waits, Steps())
    queued = first.submit("test.wait", waits, Steps())
    time.sleep(0.2)
    # A second manager on the same database = the server after a crash (the first never shut down).
    second = make_manager(db_path, tmp_path / "runs")
    states = {r.job_id: r for r in second.list()}
    assert states[finished.job_id].status == JobStatus.SUCCEEDED
    assert states[running.job_id].status == JobStatus.INTERRUPTED
    assert states[running.job_id].progress == pytest.approx(0.3)
    assert states[queued.job_id].status == JobStatus.INTERRUPTED
    assert states[running.job_id].error is not None and states[running.job_id].error.code == "interrupted"
    gate.set()
    first.shutdown()


def test_shutdown_cancels_running_jobs(tmp_path: Path) -> None:
    jobs = make_manager(tmp_path / "db.sqlite3", tmp_path / "runs")
    record = jobs.submit("test.count", counting_job, Steps(steps=10_000, delay=0.01))
    time.sleep(0.1)
    jobs.shutdown(timeout=5)
    assert jobs.get(record.job_id).status == JobStatus.CANCELLED
    with pytest.raises(JobStartFailed):
        jobs.submit("test.count", counting_job, Steps())

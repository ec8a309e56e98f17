"""The completion step: run in the server after success, failure is a coded failure, and an accepted
cancel holds (the step does not run) while a cancel during the step is answered as too late."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from tator.errors import JobNotCancellable, TatorError
from tator.jobs.context import JobContext
from tator.jobs.executor import ThreadExecutor
from tator.jobs.kinds import JobKind, JobKinds
from tator.jobs.manager import JobManager
from tator.jobs.outcome import COMPLETED_NAME, RESULT_NAME
from tator.jobs.slots import DeviceSlots
from tator.jobs.store import JobStore
from tator.jobs.types import JobRecord, JobStatus
from tator.storage.db import Database


class Params(BaseModel):
    value: int = 1


class Result(BaseModel):
    doubled: int


def double(params: Params, ctx: JobContext) -> Result:
    (ctx.run_dir / "out.txt").write_text(str(params.value * 2))
    return Result(doubled=params.value * 2)


DOUBLE = JobKind("test.double", double, Params, Result, resource="cpu")


class Refused(TatorError):
    code, status = "test_publish_refused", 409


def make(tmp_path: Path, kinds: JobKinds | None = None) -> JobManager:
    slots = DeviceSlots(jobs_per_gpu=1, cpu_workers=2, gpu_devices=[])
    store = JobStore(Database(tmp_path / "db.sqlite3"))
    return JobManager(store, ThreadExecutor(), slots, run_root=tmp_path / "runs", flush_interval_s=0.0, kinds=kinds)


@pytest.fixture
def jobs(tmp_path: Path) -> Iterator[JobManager]:
    manager = make(tmp_path)
    yield manager
    manager.shutdown(timeout=5)


def test_completion_runs_in_the_server_with_the_result_and_adds_fields(jobs: JobManager) -> None:
    seen: list[JobRecord] = []

    def complete(record: JobRecord) -> dict[str, Any]:
        seen.append(record)
        return {"published": f"{record.job_id}.txt"}

    record = jobs.submit_kind(DOUBLE, Params(value=21), on_complete=complete)
    done = jobs.wait(record.job_id, 10)
    assert done.status == JobStatus.SUCCEEDED
    assert done.result == {"doubled": 42, "published": f"{record.job_id}.txt"}
    assert len(seen) == 1 and seen[0].result == {"doubled": 42} and seen[0].params == {"value": 21}
    run_dir = Path(done.run_dir or "")
    assert json.loads((run_dir / RESULT_NAME).read_text())["result"] == {"doubled": 42}
    assert json.loads((run_dir / COMPLETED_NAME).read_text())["extra"] == {"published": f"{record.job_id}.txt"}


def test_a_failing_completion_fails_the_job_with_a_code(jobs: JobManager) -> None:
    def refuses(_record: JobRecord) -> None:
        raise Refused("the library is read-only")

    def crashes(_record: JobRecord) -> None:
        raise OSError("disk full")

    a = jobs.wait(jobs.submit_kind(DOUBLE, Params(), on_complete=refuses).job_id, 10)
    b = jobs.wait(jobs.submit_kind(DOUBLE, Params(), on_complete=crashes).job_id, 10)
    assert a.status == JobStatus.FAILED and a.error is not None and a.error.code == "test_publish_refused"
    assert b.status == JobStatus.FAILED and b.error is not None and b.error.code == "job_completion_failed"
    assert "disk full" in b.error.message


def test_a_cancel_accepted_before_completion_holds(jobs: JobManager) -> None:
    """The job ignores the cancel and returns normally (a cancel in its last moments): nothing is published."""
    accepted, completed = threading.Event(), []

    def late(params: Params, ctx: JobContext) -> Result:
        ctx.progress(0.5, "working")
        assert accepted.wait(10)
        return Result(doubled=params.value * 2)

    record = jobs.submit("test.late", late, Params(), on_complete=lambda r: completed.append(r) or {})
    _wait_status(jobs, record.job_id, JobStatus.RUNNING)
    assert jobs.cancel(record.job_id).status == JobStatus.CANCELLING
    accepted.set()
    done = jobs.wait(record.job_id, 10)
    assert done.status == JobStatus.CANCELLED and completed == []


def test_a_cancel_during_completion_is_answered_too_late(jobs: JobManager) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_publish(_record: JobRecord) -> dict[str, Any]:
        entered.set()
        assert release.wait(10)
        return {"published": True}

    record = jobs.submit_kind(DOUBLE, Params(), on_complete=slow_publish)
    assert entered.wait(10)
    with pytest.raises(JobNotCancellable) as refused:
        jobs.cancel(record.job_id)
    assert refused.value.details.get("reason") == "completing"
    release.set()
    done = jobs.wait(record.job_id, 10)
    assert done.status == JobStatus.SUCCEEDED and done.result == {"doubled": 2, "published": True}


def test_the_registered_completion_is_the_default(tmp_path: Path) -> None:
    kinds = JobKinds()
    kinds.register(DOUBLE, lambda record: {"by": "registry"})
    manager = make(tmp_path, kinds)
    try:
        done = manager.wait(manager.submit_kind(DOUBLE, Params()).job_id, 10)
        assert done.result == {"doubled": 2, "by": "registry"}
        with pytest.raises(TypeError):
            manager.submit_kind(DOUBLE, Result(doubled=1))
    finally:
        manager.shutdown(timeout=5)


def _wait_status(jobs: JobManager, job_id: str, status: JobStatus) -> None:
    deadline = time.monotonic() + 10
    while jobs.get(job_id).status != status:
        assert time.monotonic() < deadline
        time.sleep(0.01)

"""Start-up reconciliation: a job the previous server left unfinished gets exactly one story."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from tator.jobs.kinds import JobKinds
from tator.jobs.manager import MAX_RESUMES
from tator.jobs.outcome import write_completed, write_result
from tator.jobs.store import JobStore
from tator.jobs.types import JobRecord, JobStatus
from tator.storage.db import Database
from tests.jobs.test_completion import DOUBLE, Refused, make


def seed(tmp_path: Path, status: JobStatus, *, result: bool, completed: bool) -> JobRecord:
    now = time.time()
    run_dir = tmp_path / "runs" / "j1"
    record = JobRecord(job_id="j1", kind=DOUBLE.name, status=status, params={"value": 3}, created_at=now,
                       updated_at=now, run_dir=str(run_dir), progress=0.9)  # fmt: skip
    JobStore(Database(tmp_path / "db.sqlite3")).save(record)
    if result:
        write_result(run_dir, "j1", {"doubled": 6})
    if completed:
        write_completed(run_dir, "j1", {"published": "first"})
    return record


def restart(tmp_path: Path, calls: list[JobRecord], *, fail: bool = False) -> JobRecord:
    def complete(record: JobRecord) -> dict[str, Any]:
        calls.append(record)
        if fail:
            raise Refused("cannot publish")
        return {"published": "at start-up"}

    kinds = JobKinds()
    kinds.register(DOUBLE, complete)
    manager = make(tmp_path, kinds)
    try:
        return manager.get("j1")
    finally:
        manager.shutdown(timeout=5)


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.QUEUED])
def test_output_written_but_not_completed_runs_the_completion_once(tmp_path: Path, status: JobStatus) -> None:
    seed(tmp_path, status, result=True, completed=False)
    calls: list[JobRecord] = []
    record = restart(tmp_path, calls)
    assert record.status == JobStatus.SUCCEEDED and record.progress == 1.0
    assert record.result == {"doubled": 6, "published": "at start-up"}
    assert len(calls) == 1 and calls[0].result == {"doubled": 6}
    again = restart(tmp_path, calls)  # a second restart changes nothing and publishes nothing again
    assert again.status == JobStatus.SUCCEEDED and len(calls) == 1


def test_completed_before_the_kill_is_recorded_as_succeeded_without_running_again(tmp_path: Path) -> None:
    seed(tmp_path, JobStatus.RUNNING, result=True, completed=True)
    calls: list[JobRecord] = []
    record = restart(tmp_path, calls)
    assert record.status == JobStatus.SUCCEEDED and record.result == {"doubled": 6, "published": "first"}
    assert calls == []


def test_an_accepted_cancel_holds_across_the_kill(tmp_path: Path) -> None:
    seed(tmp_path, JobStatus.CANCELLING, result=True, completed=False)
    calls: list[JobRecord] = []
    assert restart(tmp_path, calls).status == JobStatus.CANCELLED and calls == []


def test_unfinished_work_is_interrupted(tmp_path: Path) -> None:
    seed(tmp_path, JobStatus.RUNNING, result=False, completed=False)
    calls: list[JobRecord] = []
    record = restart(tmp_path, calls)
    assert record.status == JobStatus.INTERRUPTED and record.error is not None
    assert record.error.code == "interrupted" and calls == []


def test_a_completion_failing_at_start_up_fails_the_job_with_its_code(tmp_path: Path) -> None:
    seed(tmp_path, JobStatus.RUNNING, result=True, completed=False)
    calls: list[JobRecord] = []
    record = restart(tmp_path, calls, fail=True)
    assert record.status == JobStatus.FAILED and record.error is not None
    assert record.error.code == "test_publish_refused"


def test_a_result_of_another_job_is_not_taken(tmp_path: Path) -> None:
    seed(tmp_path, JobStatus.RUNNING, result=False, completed=False)
    write_result(tmp_path / "runs" / "j1", "someone-else", {"doubled": 1})
    assert restart(tmp_path, []).status == JobStatus.INTERRUPTED


RESUMABLE_DOUBLE = dataclasses.replace(DOUBLE, name="test.double_resumable", resumable=True)


def _restart_resumable(tmp_path: Path, resumes: int) -> JobRecord:
    now = time.time()
    run_dir = str(tmp_path / "runs" / "j2")
    record = JobRecord(job_id="j2", kind=RESUMABLE_DOUBLE.name, status=JobStatus.RUNNING, params={"value": 4},
                       created_at=now, updated_at=now, run_dir=run_dir, resumes=resumes)  # fmt: skip
    JobStore(Database(tmp_path / "db.sqlite3")).save(record)
    kinds = JobKinds()
    kinds.register(RESUMABLE_DOUBLE)
    manager = make(tmp_path, kinds)
    try:
        return manager.wait("j2", timeout=30)
    finally:
        manager.shutdown(timeout=5)


def test_an_interrupted_resumable_job_runs_again_under_its_id(tmp_path: Path) -> None:
    record = _restart_resumable(tmp_path, resumes=0)
    assert record.status == JobStatus.SUCCEEDED and record.result == {"doubled": 8}
    assert record.resumes == 1 and record.error is None
    assert (tmp_path / "runs" / "j2" / "out.txt").read_text() == "8"


def test_a_job_that_keeps_dying_with_the_server_stays_interrupted(tmp_path: Path) -> None:
    record = _restart_resumable(tmp_path, resumes=MAX_RESUMES)
    assert record.status == JobStatus.INTERRUPTED and record.resumes == MAX_RESUMES

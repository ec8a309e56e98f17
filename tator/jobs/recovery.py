"""Start-up reconciliation: one story per job after the server was killed.

A job the previous server left queued, running or cancelling is settled from what its run dir says:
- its completion step ran (`job_completed.json`): succeeded, with the result and what completion added;
- its output is complete (`job_result.json`) and no cancel was accepted: its completion step runs now
  (once), then succeeded, or failed with the completion's code;
- its output is complete but a cancel had been accepted: cancelled, nothing published;
- otherwise: interrupted (the work did not finish).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tator.errors import TatorError
from tator.jobs.kinds import Completion
from tator.jobs.outcome import read_completed, read_result, write_completed
from tator.jobs.types import JobError, JobRecord, JobStatus

log = logging.getLogger(__name__)

CompletionRunner = Callable[[Completion | None, JobRecord], dict[str, Any]]


def reconcile(record: JobRecord, complete: Completion | None, run: CompletionRunner) -> JobRecord:
    """Settle one unfinished record in place (the caller saves it)."""
    was = record.status
    run_dir = Path(record.run_dir) if record.run_dir else None
    has_result, result = read_result(run_dir, record.job_id) if run_dir else (False, None)
    completed, extra = read_completed(run_dir, record.job_id) if run_dir else (False, None)
    if has_result and completed:
        _settle(record, JobStatus.SUCCEEDED, "succeeded (settled at start-up)", result=_merge(result, extra))
    elif has_result and was == JobStatus.CANCELLING:
        _settle(record, JobStatus.CANCELLED, "cancelled: the cancel was accepted, its output was not published")
    elif has_result and run_dir is not None:
        _complete(record, complete, run, run_dir, result)
    else:
        error = JobError(code="interrupted", message=f"the server stopped while this job was {was.value}")
        _settle(record, JobStatus.INTERRUPTED, error.message, error=error)
    return record


def _complete(
    record: JobRecord, complete: Completion | None, run: CompletionRunner, run_dir: Path, result: dict[str, Any] | None
) -> None:
    record.result = result
    try:
        extra = run(complete, record.model_copy(deep=True))
    except TatorError as exc:
        _settle(record, JobStatus.FAILED, exc.message, error=JobError(code=exc.code, message=exc.message))
        return
    write_completed(run_dir, record.job_id, extra)
    _settle(record, JobStatus.SUCCEEDED, "succeeded (completed at start-up)", result=_merge(result, extra))
    log.info("job.completed_at_startup id=%s kind=%s", record.job_id, record.kind)


def _merge(result: dict[str, Any] | None, extra: dict[str, Any] | None) -> dict[str, Any] | None:
    if result is None and not extra:
        return None
    return {**(result or {}), **(extra or {})}


def _settle(record: JobRecord, status: JobStatus, message: str, **changes: Any) -> None:
    now = time.time()
    record.status = status
    record.message = message
    for name, value in changes.items():
        setattr(record, name, value)
    if status == JobStatus.SUCCEEDED:
        record.progress = 1.0
    record.finished_at = record.updated_at = now
    record.version += 1

"""A job in flight, as the job manager holds it between queueing and its final state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from tator.jobs.context import CancelToken, JobFunction
from tator.jobs.kinds import Completion
from tator.jobs.types import JobRecord

MAX_RESUMES = 3  # re-queues after server crashes before a resumable job is left interrupted


@dataclass
class ActiveJob:
    """A job the manager holds in memory while it is queued or running: its record, what runs it, where, and
    how far it got."""

    record: JobRecord
    fn: JobFunction
    params: BaseModel
    resource: str
    candidates: list[str]
    run_dir: Path
    cancel: CancelToken
    on_complete: Completion | None = None
    device: str | None = None
    last_flush: float = 0.0
    completing: bool = False  # the completion step has started: too late to cancel
    attach: bool = False  # reattaching to a job that still runs remotely (after a server restart)

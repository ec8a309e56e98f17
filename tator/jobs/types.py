"""The one job vocabulary: statuses and the record every job route returns."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # was queued or running when the server stopped

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED})


class JobError(BaseModel):
    code: str
    message: str


class JobLogLine(BaseModel):
    timestamp: float
    message: str


class MetricPoint(BaseModel):
    step: float
    value: float


class JobRecord(BaseModel):
    """Everything known about a job; persisted as JSON and returned by every job route."""

    job_id: str
    kind: str
    status: JobStatus = JobStatus.QUEUED
    progress: float = 0.0
    message: str = ""
    phase: str | None = None
    device: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: JobError | None = None
    logs: list[JobLogLine] = Field(default_factory=list)
    metrics: dict[str, list[MetricPoint]] = Field(default_factory=dict)
    run_dir: str | None = None
    created_at: float
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    version: int = 0  # bumped on every change; event streams compare it
    resumes: int = 0  # times the manager re-queued this job after a server crash (resumable kinds)

"""Generic job routes over the one job manager; domain job routes are views over the same records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from tator.api.deps import JobsDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.errors import JobNotCancellable, JobNotFound
from tator.jobs.events import EventCursor
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord

router = IndexedRouter(prefix="/jobs", tags=["jobs"])

EVENT_POLL_S = 0.25
KEEPALIVE_S = 15.0


class JobsListResponse(BaseModel):
    items: list[JobRecord]
    total: int


@router.get("", response_model=JobsListResponse)
def list_jobs(jobs: JobsDep, kind: str | None = None, limit: int = Query(200, ge=1, le=5000)) -> JobsListResponse:
    """Every job, newest first (optionally one kind)."""
    items = jobs.list(kinds=(kind,) if kind else (), limit=limit)
    return JobsListResponse(items=items, total=len(items))


@router.get("/{job_id}", response_model=JobRecord, responses=responses(JobNotFound))
def get_job(job_id: str, jobs: JobsDep) -> JobRecord:
    """One job: status, progress, phase, log, metrics, result or error."""
    return jobs.get(job_id)


@router.post("/{job_id}/cancel", response_model=JobRecord, responses=responses(JobNotFound, JobNotCancellable))
def cancel_job(job_id: str, jobs: JobsDep) -> JobRecord:
    """Request cancellation: queued jobs stop at once, running ones at their next checkpoint."""
    return jobs.cancel(job_id)


@router.get("/{job_id}/events", responses=responses(JobNotFound))
def job_events(job_id: str, jobs: JobsDep, request: Request) -> StreamingResponse:
    """Server-sent events: a `progress` event per change, then `end`; each sends only the new log lines
    (`new_logs`) and metric points (`new_metrics`) since the previous event (full history: GET /jobs/{id})."""
    jobs.get(job_id)  # 404 before the stream starts
    return StreamingResponse(
        _event_stream(jobs, job_id, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(jobs: JobManager, job_id: str, request: Request) -> AsyncIterator[str]:
    last_version = -1
    idle = 0.0
    cursor = EventCursor()
    while True:
        record = jobs.get(job_id)
        if record.version != last_version:
            last_version = record.version
            idle = 0.0
            yield _sse("progress", record, cursor)
        if record.status.terminal:
            yield _sse("end", record, cursor)
            return
        if await request.is_disconnected():
            return
        await asyncio.sleep(EVENT_POLL_S)
        idle += EVENT_POLL_S
        if idle >= KEEPALIVE_S:
            idle = 0.0
            yield ": keepalive\n\n"


def _sse(event: str, record: JobRecord, cursor: EventCursor) -> str:
    payload = record.model_dump(mode="json", exclude={"logs", "params", "metrics"})
    payload.update(cursor.advance(record))
    return f"event: {event}\nid: {record.version}\ndata: {json.dumps(payload)}\n\n"

"""The one job manager: every job kind of every domain is submitted, scheduled and tracked here.

States: queued -> running -> succeeded | failed | cancelled, with cancelling in between and
interrupted for jobs that were unfinished when the server stopped. Records live in memory while a job
is active and in SQLite always (state changes at once, progress at most every `flush_interval_s`).
"""

from __future__ import annotations

import builtins
import functools
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tator.errors import JobNotCancellable, JobNotFound, JobStartFailed, TatorError
from tator.jobs.context import CancelToken, JobCancelled, JobContext, JobFunction
from tator.jobs.executor import Executor
from tator.jobs.slots import DeviceSlots
from tator.jobs.store import JobStore
from tator.jobs.types import JobError, JobLogLine, JobRecord, JobStatus, MetricPoint
from tator.logging import job_id_var

log = logging.getLogger(__name__)

MAX_METRIC_POINTS = 10_000


@dataclass
class _Active:
    record: JobRecord
    fn: JobFunction
    params: BaseModel
    resource: str
    candidates: list[str]
    run_dir: Path
    cancel: CancelToken
    device: str | None = None
    last_flush: float = 0.0


class JobManager:
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        slots: DeviceSlots,
        *,
        run_root: Path,
        log_lines: int = 300,
        flush_interval_s: float = 0.5,
    ) -> None:
        self._store = store
        self._executor = executor
        self._slots = slots
        self._run_root = run_root
        self._log_lines = log_lines
        self._flush_interval = flush_interval_s
        self._lock = threading.RLock()
        self._active: dict[str, _Active] = {}
        self._pending: deque[str] = deque()
        self._closed = False
        self._mark_interrupted()

    # --- submission -------------------------------------------------------------------------------
    @property
    def gpu_devices(self) -> list[str]:
        """The CUDA devices heavy jobs may be placed on ("cuda:0", ...); empty on a CPU-only server."""
        return list(self._slots.gpu_devices)

    def submit(
        self,
        kind: str,
        fn: JobFunction,
        params: BaseModel,
        *,
        resource: str = "cpu",
        device: str | None = None,
        preflight: Callable[[], None] | None = None,
        run_dir: Path | None = None,
        job_id: str | None = None,
    ) -> JobRecord:
        """Validate, record and queue a job; returns at once. Preflight errors reach the caller and
        leave nothing behind; if the job cannot be started the record is rolled back."""
        candidates = self._slots.candidates(resource, device)
        if preflight is not None:
            preflight()
        job_id = job_id or uuid.uuid4().hex
        now = time.time()
        record = JobRecord(
            job_id=job_id,
            kind=kind,
            params=params.model_dump(mode="json"),
            created_at=now,
            updated_at=now,
            run_dir=str(run_dir or self._run_root / job_id),
            message="queued",
        )
        active = _Active(record, fn, params, resource, candidates, Path(record.run_dir or ""), CancelToken())
        with self._lock:
            if self._closed:
                raise JobStartFailed("the server is shutting down")
            self._active[job_id] = active
            self._pending.append(job_id)
            try:
                self._store.save(record)
                self._dispatch()
            except Exception as exc:
                self._active.pop(job_id, None)
                if job_id in self._pending:
                    self._pending.remove(job_id)
                self._store.delete(job_id)
                log.exception("job.start_failed id=%s kind=%s", job_id, kind)
                raise JobStartFailed(f"job could not be started: {type(exc).__name__}") from exc
            log.info("job.queued id=%s kind=%s resource=%s", job_id, kind, resource)
            return record.model_copy(deep=True)

    def _dispatch(self) -> None:
        """Start every pending job that has a free slot (FIFO, skipping jobs whose device is busy)."""
        for job_id in list(self._pending):
            active = self._active[job_id]
            device = self._slots.take(active.candidates)
            if device is None:
                continue
            self._pending.remove(job_id)
            active.device = device
            try:
                self._executor.start(job_id, functools.partial(self._run, active))
            except Exception:
                self._slots.give_back(device)
                self._pending.appendleft(job_id)
                raise

    # --- execution --------------------------------------------------------------------------------
    def _run(self, active: _Active) -> None:
        record = active.record
        token = job_id_var.set(record.job_id)
        try:
            with self._lock:
                if active.cancel.cancelled:
                    raise JobCancelled("cancelled before start")
                self._update(
                    record, status=JobStatus.RUNNING, started_at=time.time(), device=active.device, message="running"
                )
            active.run_dir.mkdir(parents=True, exist_ok=True)
            ctx = JobContext(record.job_id, active.run_dir, active.device or "cpu", active.cancel, self)
            result = active.fn(active.params, ctx)
            payload = _result_payload(result)
            with self._lock:
                self._update(record, status=JobStatus.SUCCEEDED, result=payload, progress=1.0, message="succeeded")
        except JobCancelled:
            with self._lock:
                self._update(record, status=JobStatus.CANCELLED, message="cancelled")
        except TatorError as exc:
            with self._lock:
                self._update(
                    record,
                    status=JobStatus.FAILED,
                    error=JobError(code=exc.code, message=exc.message),
                    message=exc.message,
                )
        except Exception as exc:
            log.exception("job.crashed id=%s kind=%s", record.job_id, record.kind)
            error = JobError(code="internal_error", message=f"{type(exc).__name__}: {exc}")
            with self._lock:
                self._update(record, status=JobStatus.FAILED, error=error, message=error.message)
        finally:
            job_id_var.reset(token)
            self._finish(active)

    def _finish(self, active: _Active) -> None:
        with self._lock:
            self._store.save(active.record)
            self._active.pop(active.record.job_id, None)
            if active.device is not None:
                self._slots.give_back(active.device)
            if not self._closed:
                try:
                    self._dispatch()
                except Exception:
                    log.exception("job.dispatch_failed")
        log.info("job.finished id=%s status=%s", active.record.job_id, active.record.status.value)

    def _update(self, record: JobRecord, **changes: Any) -> None:
        """Apply changes to a record (caller holds the lock) and persist state changes at once."""
        now = time.time()
        for name, value in changes.items():
            setattr(record, name, value)
        if "status" in changes and JobStatus(changes["status"]).terminal:
            record.finished_at = now
        record.updated_at = now
        record.version += 1
        self._store.save(record)

    # --- reporting (called by JobContext) ---------------------------------------------------------
    def progress(self, job_id: str, fraction: float | None, message: str | None, phase: str | None) -> None:
        with self._lock:
            active = self._active.get(job_id)
            if active is None:
                return
            record = active.record
            if fraction is not None and math.isfinite(fraction):
                record.progress = min(1.0, max(0.0, float(fraction)))
            if message is not None:
                record.message = message
            if phase is not None:
                record.phase = phase
            self._touch(active)

    def log(self, job_id: str, message: str) -> None:
        with self._lock:
            active = self._active.get(job_id)
            if active is None:
                return
            lines = deque(active.record.logs, maxlen=self._log_lines)
            lines.append(JobLogLine(timestamp=time.time(), message=message))
            active.record.logs = list(lines)
            self._touch(active)
        log.info("job.log id=%s %s", job_id, message)
        try:
            with open(active.run_dir / "job.log", "a", encoding="utf-8") as handle:
                handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")
        except OSError:
            pass  # the bounded in-record log still has the line

    def metric(self, job_id: str, name: str, step: float, value: float) -> None:
        with self._lock:
            active = self._active.get(job_id)
            if active is None or not math.isfinite(value):
                return
            series = active.record.metrics.setdefault(name, [])
            series.append(MetricPoint(step=step, value=value))
            del series[:-MAX_METRIC_POINTS]
            self._touch(active)

    def _touch(self, active: _Active) -> None:
        now = time.time()
        active.record.updated_at = now
        active.record.version += 1
        if now - active.last_flush >= self._flush_interval:
            active.last_flush = now
            self._store.save(active.record)

    # --- queries and control ----------------------------------------------------------------------
    def get(self, job_id: str, *, kinds: tuple[str, ...] = (), not_found: type[TatorError] = JobNotFound) -> JobRecord:
        """The record of a job (optionally only if its kind is one of `kinds`), else `not_found` (404)."""
        with self._lock:
            active = self._active.get(job_id)
            record = active.record.model_copy(deep=True) if active else None
        if record is None:
            record = self._store.get(job_id)
        if record is None or (kinds and record.kind not in kinds):
            raise not_found(f"job {job_id} not found", job_id=job_id[:64])
        return record

    def list(self, *, kinds: tuple[str, ...] = (), limit: int = 1000) -> builtins.list[JobRecord]:
        """Newest first, the live state of active jobs included."""
        records = self._store.list(kinds=kinds, limit=limit)
        with self._lock:
            live = {k: a.record.model_copy(deep=True) for k, a in self._active.items()}
        return [live.get(r.job_id, r) for r in records]

    def cancel(
        self, job_id: str, *, kinds: tuple[str, ...] = (), not_found: type[TatorError] = JobNotFound
    ) -> JobRecord:
        """Queued jobs are cancelled at once; running ones go to `cancelling` until they stop."""
        self.get(job_id, kinds=kinds, not_found=not_found)
        with self._lock:
            active = self._active.get(job_id)
            if active is None:
                raise JobNotCancellable(f"job {job_id} has already finished", job_id=job_id)
            active.cancel.cancel()
            record = active.record
            if record.status == JobStatus.QUEUED and job_id in self._pending:
                self._pending.remove(job_id)
                self._update(record, status=JobStatus.CANCELLED, message="cancelled before start")
                self._active.pop(job_id, None)
            elif record.status in (JobStatus.RUNNING, JobStatus.QUEUED):
                self._update(record, status=JobStatus.CANCELLING, message="cancelling")
            return record.model_copy(deep=True)

    def wait(self, job_id: str, timeout: float) -> JobRecord:
        """Block until the job is terminal or `timeout` passes; returns the latest record."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.get(job_id)
            if record.status.terminal or time.monotonic() >= deadline:
                return record
            time.sleep(0.05)

    def is_active(self, job_id: str) -> bool:
        """True while the job is queued, running or cancelling."""
        with self._lock:
            return job_id in self._active

    def active_count(self) -> int:
        with self._lock:
            return len(self._active)

    def counts(self) -> dict[str, int]:
        return self._store.count_by_status()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop accepting jobs, cancel queued and running ones, and wait for them to end."""
        with self._lock:
            self._closed = True
            for job_id in list(self._active):
                self.cancel(job_id)
        if not self._executor.join(timeout):
            log.warning("jobs.shutdown_timeout still_running=%d", self.active_count())

    def _mark_interrupted(self) -> None:
        for record in self._store.unfinished():
            was = record.status.value
            now = time.time()
            record.status = JobStatus.INTERRUPTED
            record.error = JobError(code="interrupted", message=f"the server stopped while this job was {was}")
            record.message = record.error.message
            record.finished_at = record.updated_at = now
            record.version += 1
            self._store.save(record)
            log.warning("job.interrupted id=%s kind=%s was=%s", record.job_id, record.kind, was)


def _result_payload(result: Any) -> dict[str, Any] | None:
    if result is None:
        return None
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, dict):
        return result
    return {"value": result}

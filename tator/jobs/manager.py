"""The one job manager: every job kind of every domain is submitted, scheduled and tracked here.

States: queued -> running -> succeeded | failed | cancelled, with cancelling in between and
interrupted for jobs that were unfinished when the server stopped. Records live in memory while a job
is active and in SQLite always (state changes at once, progress at most every `flush_interval_s`).

When the job function returns, its result is written to the run dir (`job_result.json`) and then the
job's completion step (activate, publish) runs here in the server. A cancel accepted before that point
holds: the completion step does not run and the job ends cancelled. Once the completion step has
started, a cancel is refused as too late (409 `job_not_cancellable`, `reason: completing`).
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import logging
import os
import signal
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tator.errors import JobNotCancellable, JobNotFound, JobStartFailed, TatorError
from tator.jobs.active import MAX_RESUMES, ActiveJob
from tator.jobs.context import (
    CancelToken,
    JobCancelled,
    JobContext,
    JobDetached,
    JobFailed,
    JobFunction,
    ModelAccess,
)
from tator.jobs.executor import Executor
from tator.jobs.kinds import Completion, JobKind, JobKinds, run_completion
from tator.jobs.outcome import result_payload, write_completed, write_result
from tator.jobs.recovery import reconcile
from tator.jobs.reporting import Reporting
from tator.jobs.slots import DeviceSlots
from tator.jobs.store import JobStore
from tator.jobs.types import JobError, JobRecord, JobStatus
from tator.logging import job_id_var

log = logging.getLogger(__name__)


class JobManager(Reporting):
    def __init__(
        self,
        store: JobStore,
        executor: Executor,
        slots: DeviceSlots,
        *,
        run_root: Path,
        log_lines: int = 300,
        flush_interval_s: float = 0.5,
        kinds: JobKinds | None = None,
        models: ModelAccess | None = None,
        recover: bool = True,
        kill_at: str | None = None,
    ) -> None:
        """`kinds` gives each kind its completion step (also used to reconcile at start-up); `models`
        is what jobs may load models through (`ctx.models`). With `recover=False` the caller registers
        the kinds first and then calls `recover()`. `kill_at` (crash tests only) SIGKILLs this process
        at a named step: `job.before_completion` or `job.after_completion`."""
        self._store = store
        self._executor = executor
        self._slots = slots
        self._run_root = run_root
        self._log_lines = log_lines
        self._flush_interval = flush_interval_s
        self._lock = threading.RLock()
        self._active: dict[str, ActiveJob] = {}
        self._pending: deque[str] = deque()
        self._closed = False
        self.kinds = kinds if kinds is not None else JobKinds()
        self._models = models
        self._kill_at = kill_at
        if recover:
            self.recover()

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
        on_complete: Completion | None = None,
    ) -> JobRecord:
        """Validate, record and queue a job; returns at once. Preflight errors reach the caller and
        leave nothing behind; if the job cannot be started the record is rolled back. `on_complete`
        (default: the registered kind's completion step) runs in the server when the job succeeds."""
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
        complete = on_complete if on_complete is not None else self.kinds.completion(kind)
        active = ActiveJob(
            record, fn, params, resource, candidates, Path(record.run_dir or ""), CancelToken(), complete
        )
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

    def submit_kind(
        self,
        kind: JobKind,
        params: BaseModel,
        *,
        device: str | None = None,
        preflight: Callable[[], None] | None = None,
        run_dir: Path | None = None,
        job_id: str | None = None,
        on_complete: Completion | None = None,
    ) -> JobRecord:
        """`submit` for a registered-style job kind: its function and resource come from the kind."""
        if not isinstance(params, kind.params):
            raise TypeError(f"{kind.name} takes {kind.params.__name__}, not {type(params).__name__}")
        return self.submit(kind.name, kind.run, params, resource=kind.resource, device=device, preflight=preflight,
                           run_dir=run_dir, job_id=job_id, on_complete=on_complete)  # fmt: skip

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
    def _run(self, active: ActiveJob) -> None:
        record = active.record
        token = job_id_var.set(record.job_id)
        try:
            with self._lock:
                if active.cancel.cancelled and not active.attach:
                    raise JobCancelled("cancelled before start")
                status = JobStatus.CANCELLING if active.cancel.cancelled else JobStatus.RUNNING
                started = record.started_at or time.time()
                self._update(record, status=status, started_at=started, device=active.device, message=status.value)
            active.run_dir.mkdir(parents=True, exist_ok=True)
            ctx = JobContext(record.job_id, active.run_dir, active.device or "cpu", active.cancel, self, self._models)
            result = self._executor.call(active.fn, active.params, ctx, resource=active.resource, attach=active.attach)
            payload = result_payload(result)
            write_result(active.run_dir, record.job_id, payload)
            self._complete(active, payload)
        except JobDetached:
            log.info("job.detached id=%s: it keeps running on the cluster", record.job_id)
        except JobCancelled:
            with self._lock:
                self._update(record, status=JobStatus.CANCELLED, message="cancelled")
        except (TatorError, JobFailed) as exc:
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

    def _complete(self, active: ActiveJob, payload: dict[str, Any] | None) -> None:
        """Run the completion step unless a cancel was accepted first; then the job has succeeded."""
        record = active.record
        with self._lock:
            if active.cancel.cancelled:
                raise JobCancelled("cancelled after the work ended: its output was not published")
            active.completing = True
            self._update(record, result=payload, message="completing")
            snapshot = record.model_copy(deep=True)
        self._crash_point("job.before_completion")
        extra = run_completion(active.on_complete, snapshot)
        write_completed(active.run_dir, record.job_id, extra)
        self._crash_point("job.after_completion")
        merged = {**(payload or {}), **extra} if (payload is not None or extra) else None
        with self._lock:
            self._update(record, status=JobStatus.SUCCEEDED, result=merged, progress=1.0, message="succeeded")

    def _crash_point(self, name: str) -> None:
        if self._kill_at == name:
            log.warning("job.test_kill point=%s", name)
            os.kill(os.getpid(), signal.SIGKILL)

    def _finish(self, active: ActiveJob) -> None:
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
            if active.completing:
                raise JobNotCancellable(
                    f"job {job_id} has finished its work and is being completed: the cancel came too late",
                    job_id=job_id,
                    reason="completing",
                )
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
            for job_id, active in list(self._active.items()):
                if active.device is not None and self._executor.detach(job_id):
                    continue  # it runs on a cluster: the next server reattaches to it
                with contextlib.suppress(JobNotCancellable):  # already completing: let it finish
                    self.cancel(job_id)
        if not self._executor.join(timeout):
            log.warning("jobs.shutdown_timeout still_running=%d", self.active_count())
        self._executor.close()

    def recover(self) -> None:
        """At start-up: settle every job the previous server left unfinished (see `recovery.reconcile`)."""
        for record in self._store.unfinished():
            was = record.status.value
            registered = self.kinds.get(record.kind)
            if registered is not None and self._executor.reattachable(record.job_id):
                self._reattach(record, registered.kind, registered.complete)
                continue
            reconcile(record, self.kinds.completion(record.kind), run_completion)
            self._store.save(record)
            log.warning("job.recovered id=%s kind=%s was=%s now=%s", record.job_id, record.kind, was, record.status)
            if record.status == JobStatus.INTERRUPTED and registered is not None and registered.kind.resumable:
                self._resume(record, registered.kind, registered.complete, was)

    def _resume(self, record: JobRecord, kind: JobKind, complete: Completion | None, was: str) -> None:
        """Queue an interrupted resumable job again under its id; its cache makes the rerun pick up where it
        stopped. A job that keeps dying with the server (MAX_RESUMES times) stays interrupted."""
        if record.resumes >= MAX_RESUMES:
            log.warning("job.not_resumed id=%s: interrupted %d times", record.job_id, record.resumes + 1)
            return
        with self._lock:
            self._update(record, status=JobStatus.QUEUED, error=None, finished_at=None, resumes=record.resumes + 1,
                         message=f"queued again after a server restart (it was {was})")  # fmt: skip
        self._requeue(record, kind, complete, CancelToken(), attach=False)
        log.warning("job.resumed id=%s kind=%s resumes=%d", record.job_id, record.kind, record.resumes)

    def _reattach(self, record: JobRecord, kind: JobKind, complete: Completion | None) -> None:
        """Follow a job that still runs on the cluster; its final state is recorded when it ends."""
        cancel = CancelToken()
        if record.status == JobStatus.CANCELLING:
            cancel.cancel()  # the accepted cancel still holds: it is passed on again
        self._requeue(record, kind, complete, cancel, attach=True)
        log.warning("job.reattached id=%s kind=%s", record.job_id, record.kind)

    def _requeue(self, record: JobRecord, kind: JobKind, complete: Completion | None, cancel: CancelToken, *,
                 attach: bool) -> None:  # fmt: skip
        """Make a stored record active again (pending, then dispatched) with its kind's function and params."""
        params = kind.params.model_validate(record.params)
        run_dir = Path(record.run_dir or self._run_root / record.job_id)
        places = self._slots.candidates(kind.resource, None)
        active = ActiveJob(record, kind.run, params, kind.resource, places, run_dir, cancel, complete, attach=attach)
        with self._lock:
            self._active[record.job_id] = active
            self._pending.append(record.job_id)
            self._dispatch()

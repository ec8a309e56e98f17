"""The reporting half of the job manager: what a job's `ctx.progress/log/metric` calls do."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from tator.jobs.store import JobStore
from tator.jobs.types import JobLogLine, JobRecord, MetricPoint

log = logging.getLogger("tator.jobs.manager")

MAX_METRIC_POINTS = 10_000


class Reported(Protocol):
    record: JobRecord
    run_dir: Path
    last_flush: float


class Reporting:
    """Mixed into JobManager; progress is flushed to SQLite at most every `_flush_interval` seconds."""

    _lock: threading.RLock
    _active: Mapping[str, Reported]
    _store: JobStore
    _log_lines: int
    _flush_interval: float

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

    def _touch(self, active: Reported) -> None:
        now = time.time()
        active.record.updated_at = now
        active.record.version += 1
        if now - active.last_flush >= self._flush_interval:
            active.last_flush = now
            self._store.save(active.record)

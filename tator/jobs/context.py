"""What a running job sees: a cancel token, progress/log/metric reporting and its run directory."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tator.runtime.loaders import ModelSpec


class JobCancelled(Exception):
    """Raised inside a job at a cancellation checkpoint; the manager records the job as cancelled."""


class JobDetached(Exception):
    """The server stops following a job that keeps running elsewhere (a cluster); its record stays open."""


class JobFailed(Exception):
    """A job that failed elsewhere (a remote worker) with a stable code; the manager records it as failed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class CancelToken:
    """Cooperative cancellation: the job checks it between batches or epochs."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise JobCancelled("cancelled")

    def wait(self, timeout: float) -> bool:
        """Sleep up to `timeout` seconds, waking early (True) on cancel."""
        return self._event.wait(timeout)


class JobReporter(Protocol):
    """The manager side of a job's reporting calls."""

    def progress(self, job_id: str, fraction: float | None, message: str | None, phase: str | None) -> None: ...

    def log(self, job_id: str, message: str) -> None: ...

    def metric(self, job_id: str, name: str, step: float, value: float) -> None: ...


class ModelAccess(Protocol):
    """How a job loads a model: the server's registry (thread executor) or a worker-local one."""

    def use(self, spec: ModelSpec, *, exclusive: bool = True) -> AbstractContextManager[Any]: ...


@dataclass
class JobContext:
    """Passed to every job function alongside its params."""

    job_id: str
    run_dir: Path
    device: str
    cancel: CancelToken
    _reporter: JobReporter
    models: ModelAccess | None = None  # for jobs that embed or predict with a registered model family

    def progress(self, fraction: float | None = None, message: str | None = None, *, phase: str | None = None) -> None:
        """Report progress in 0..1 (clamped; NaN ignored) with an optional message and phase."""
        self._reporter.progress(self.job_id, fraction, message, phase)

    def log(self, message: str) -> None:
        """Append one line to the job's bounded log (and to run_dir/job.log)."""
        self._reporter.log(self.job_id, message)

    def metric(self, name: str, step: float, value: float) -> None:
        """Append a point to a named metric series (e.g. loss per epoch)."""
        self._reporter.metric(self.job_id, name, step, value)

    def checkpoint(self) -> None:
        """A cancellation point: raises JobCancelled when a cancel was requested."""
        self.cancel.raise_if_cancelled()


# `def run(params, ctx) -> result`: params is the validated request model, result a model or a dict.
JobFunction = Callable[[Any, JobContext], Any]

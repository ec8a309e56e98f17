"""The job-function contract and the registry of job kinds.

A job kind names a module-level `run(params, ctx) -> result` whose params and result are pydantic models
(plain data that any executor can ship to another process or machine), the resource it needs ("gpu" or
"cpu") and, registered by the server at start-up, its completion step: what must happen in the server
process when the job succeeds (activate a run, publish a head). The job function itself reaches the
outside only through `ctx` and files under `ctx.run_dir`; it never touches app state, SQLite or the
model registry's selections.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from tator.errors import JobCompletionFailed, TatorError
from tator.jobs.context import JobContext
from tator.jobs.types import JobRecord

log = logging.getLogger(__name__)

# Runs in the server when a job succeeded: gets the record (params and result as JSON), returns fields to
# merge into the job's result (or None). Raising marks the job failed with the error's code. It must be
# idempotent: after a kill it may run again at start-up for a job whose output was already written.
Completion = Callable[[JobRecord], dict[str, Any] | None]


@dataclass(frozen=True)
class JobKind:
    """A kind of job: `run` must be a module-level function so that it can run in another process."""

    name: str
    run: Callable[[Any, JobContext], Any]
    params: type[BaseModel]
    result: type[BaseModel]
    resource: str = "gpu"  # "gpu": one accelerator (or the CPU pool without one); "cpu": the CPU pool
    # The job keeps its finished work (a per-item cache) and may simply run again: after a server crash the
    # manager re-queues it under the same id instead of leaving it `interrupted`.
    resumable: bool = False


@dataclass(frozen=True)
class RegisteredKind:
    kind: JobKind
    complete: Completion | None


class JobKinds:
    """Kind name -> job kind and its completion step. Built once by the server at start-up."""

    def __init__(self) -> None:
        self._kinds: dict[str, RegisteredKind] = {}

    def register(self, kind: JobKind, complete: Completion | None = None) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} is registered twice")
        self._kinds[kind.name] = RegisteredKind(kind, complete)

    def get(self, name: str) -> RegisteredKind | None:
        return self._kinds.get(name)

    def completion(self, name: str) -> Completion | None:
        registered = self._kinds.get(name)
        return registered.complete if registered else None

    def names(self) -> builtins.list[str]:
        return sorted(self._kinds)

    def __iter__(self) -> Iterator[RegisteredKind]:
        return iter(list(self._kinds.values()))


def run_completion(complete: Completion | None, record: JobRecord) -> dict[str, Any]:
    """Run a completion step; an unexpected error becomes `job_completion_failed`."""
    if complete is None:
        return {}
    try:
        return dict(complete(record) or {})
    except TatorError:
        raise
    except Exception as exc:
        log.exception("job.completion_failed id=%s kind=%s", record.job_id, record.kind)
        raise JobCompletionFailed(f"the job's completion step failed: {type(exc).__name__}: {exc}") from exc

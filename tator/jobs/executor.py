"""How a dispatched job is executed. The manager decides when and where; an executor only runs it.

`ThreadExecutor` runs each job on its own named thread in this process. Another engine (Ray, a
subprocess pool) can replace it by implementing the same two methods.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from tator.jobs.context import JobContext, JobFunction


class Executor(Protocol):
    def start(self, job_id: str, work: Callable[[], None]) -> None:
        """Begin `work` in the background; raise if it cannot be started."""

    def join(self, timeout: float) -> bool:
        """Wait for started work to end; True when everything finished in time."""

    def call(self, fn: JobFunction, params: Any, ctx: JobContext, *, resource: str, attach: bool) -> Any:
        """Run one job function to its end (here or remotely) and return its result; raises its error.
        `attach`: the job already runs remotely (a restarted server reattaches to it)."""

    def reattachable(self, job_id: str) -> bool:
        """True when the job still runs somewhere this executor can reattach to."""

    def detach(self, job_id: str) -> bool:
        """At shutdown: stop following a job that keeps running without this server (True), or refuse."""

    def close(self) -> None:
        """Release the executor's resources (after join)."""


class ThreadExecutor:
    """Each job's manager-side work on its own thread; the job function runs on that thread too."""

    def __init__(self) -> None:
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def start(self, job_id: str, work: Callable[[], None]) -> None:
        thread = threading.Thread(target=work, name=f"tator-job-{job_id[:12]}", daemon=True)
        with self._lock:
            self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
            self._threads[job_id] = thread
        thread.start()

    def join(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def call(self, fn: JobFunction, params: Any, ctx: JobContext, *, resource: str, attach: bool) -> Any:
        return fn(params, ctx)

    def reattachable(self, job_id: str) -> bool:
        return False  # a thread dies with its server

    def detach(self, job_id: str) -> bool:
        return False

    def close(self) -> None:
        pass

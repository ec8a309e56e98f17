"""The worker side of the Ray executor: one Ray actor per job runs the job function in a thread and
buffers its progress, log and metric reports until the server polls them.

This module imports no Ray: the actor class is wrapped with `ray.remote` by the server side
(`ray_executor`), and the worker process imports this module by reference.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tator.errors import TatorError
from tator.jobs.context import CancelToken, JobCancelled, JobContext, JobFunction
from tator.jobs.outcome import result_payload, write_result
from tator.runtime.loaders import Loader
from tator.runtime.registry import ModelRegistry

MAX_BUFFERED_EVENTS = 50_000  # a server that stops polling cannot grow the actor without bound


class JobRunner:
    """Runs one job; `poll(since)` hands its reports to the server, `cancel()` sets its token."""

    def __init__(self, job_id: str, run_dir: str, loaders: Mapping[str, Loader]) -> None:
        self.job_id = job_id
        self.run_dir = Path(run_dir)
        self._loaders = dict(loaders)
        self._lock = threading.Lock()
        self._events: list[tuple[str, tuple[Any, ...]]] = []
        self._base = 0  # sequence number of self._events[0]
        self._cancel = CancelToken()
        self._state = "starting"
        self._result: dict[str, Any] | None = None
        self._error: tuple[str, str] | None = None
        self.device = "cpu"

    def start(self, fn: JobFunction, params: Any) -> dict[str, str]:
        """Begin the job on a thread; returns where it runs."""
        import ray

        ray_any: Any = ray  # untyped parts of Ray's API
        gpus = ray.get_gpu_ids()
        self.device = "cuda:0" if gpus else "cpu"  # Ray narrows CUDA_VISIBLE_DEVICES to the GPU it gave
        with self._lock:
            self._state = "running"
        threading.Thread(target=self._run, args=(fn, params), name=f"tator-job-{self.job_id[:12]}", daemon=True).start()
        return {"node": ray_any.util.get_node_ip_address(), "device": self.device}

    def _run(self, fn: JobFunction, params: Any) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        registry = ModelRegistry(self._loaders, device=lambda: self.device, max_loaded=2)
        ctx = JobContext(self.job_id, self.run_dir, self.device, self._cancel, self, registry)
        state, result, error = "failed", None, None
        try:
            result = result_payload(fn(params, ctx))
            write_result(self.run_dir, self.job_id, result)  # the output is complete, even if the server is gone
            state = "succeeded"
        except JobCancelled:
            state = "cancelled"
        except TatorError as exc:
            error = (exc.code, exc.message)
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, with its traceback in the log
            self.log(self.job_id, "".join(traceback.format_exception(exc))[-2000:])
            error = ("internal_error", f"{type(exc).__name__}: {exc}")
        finally:
            registry.unload_all()
        with self._lock:
            self._state, self._result, self._error = state, result, error

    def _add(self, kind: str, *args: Any) -> None:
        with self._lock:
            self._events.append((kind, args))
            overflow = len(self._events) - MAX_BUFFERED_EVENTS
            if overflow > 0:
                del self._events[:overflow]
                self._base += overflow

    # JobReporter: called by the job's ctx on the job's thread
    def progress(self, job_id: str, fraction: float | None, message: str | None, phase: str | None) -> None:
        self._add("progress", fraction, message, phase)

    def log(self, job_id: str, message: str) -> None:
        self._add("log", message)

    def metric(self, job_id: str, name: str, step: float, value: float) -> None:
        self._add("metric", name, step, value)

    def poll(self, since: int) -> dict[str, Any]:
        """Reports from sequence number `since` on (older ones are dropped: the server has them) and the state."""
        with self._lock:
            drop = max(0, min(since - self._base, len(self._events)))
            del self._events[:drop]
            self._base += drop
            return {
                "events": list(self._events), "next": self._base + len(self._events), "state": self._state,
                "result": self._result, "error": self._error,
            }  # fmt: skip

    def cancel(self) -> None:
        self._cancel.cancel()


def forward(ctx: JobContext, events: list[tuple[str, tuple[Any, ...]]], on_log: Callable[[str], None]) -> None:
    """Replay a worker's reports on the server-side context."""
    for kind, args in events:
        if kind == "progress":
            ctx.progress(args[0], args[1], phase=args[2])
        elif kind == "log":
            ctx.log(args[0])
            on_log(args[0])
        elif kind == "metric":
            ctx.metric(args[0], args[1], args[2])

"""Per-request phase timings, sent back in the standard `Server-Timing` response header.

The web layer opens one `Timings` per request (`begin()`, `end()`); code anywhere below it wraps a phase worth
naming in `timed("infer")`. A route that runs on a worker thread gets a copy of the request's context, and
the copy holds the same collector object, so phases timed there reach the header. Outside a request (jobs,
tests, benches) `timed` costs one context-variable read and records nothing.

Browsers show the header in their network panel; `tools/bench/predict_overhead.py` reads it to tell the
forward pass from everything around it in the same request.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

_METRIC_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


class Timings:
    """Seconds spent per named phase of one request; repeated phases (windows, batches) add up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seconds: dict[str, float] = {}
        self._calls: dict[str, int] = {}

    def add(self, name: str, seconds: float) -> None:
        if not name or not _METRIC_NAME_CHARS.issuperset(name):
            raise ValueError(f"a Server-Timing metric name is a token, not {name!r}")
        with self._lock:
            self._seconds[name] = self._seconds.get(name, 0.0) + seconds
            self._calls[name] = self._calls.get(name, 0) + 1

    def seconds(self, name: str) -> float | None:
        with self._lock:
            return self._seconds.get(name)

    def header(self, **totals: float) -> bytes:
        """`name;dur=<ms>` per phase (with the call count when a phase ran more than once), then each of
        `totals` (seconds) the same way."""
        with self._lock:
            phases = [(name, self._seconds[name], self._calls[name]) for name in self._seconds]
        parts = [
            f'{name};desc="{calls} calls";dur={seconds * 1000:.2f}' if calls > 1 else f"{name};dur={seconds * 1000:.2f}"
            for name, seconds, calls in phases
        ]
        parts += [f"{name};dur={seconds * 1000:.2f}" for name, seconds in totals.items()]
        return ", ".join(parts).encode("ascii")


_current: ContextVar[Timings | None] = ContextVar("tator_request_timings", default=None)


def begin() -> tuple[Timings, Token[Timings | None]]:
    """A fresh collector for the request now starting; hand the token back to `end`."""
    timings = Timings()
    return timings, _current.set(timings)


def end(token: Token[Timings | None]) -> None:
    _current.reset(token)


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Time the block as phase `name` of the current request, if there is one."""
    timings = _current.get()
    if timings is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        timings.add(name, time.perf_counter() - started)

"""Live Qwen generations: what `/qwen/progress` reports and what `/qwen/cancel` stops.

One `QwenRuntime` per app (held by AppState). Each generation registers a `Generation` for its duration;
its token counter is bumped by the stopping criterion at every decoding step, which is also where a cancel
or a deadline is noticed, so a cancelled generation ends at the next token.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Generation:
    op: str  # infer | caption | caption_window | caption_merge
    max_new_tokens: int
    deadline: float  # time.monotonic() after which decoding stops
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = field(default_factory=time.time)
    tokens: int = 0
    phase: str = "prefill"
    cancel: threading.Event = field(default_factory=threading.Event)

    @property
    def should_stop(self) -> bool:
        return self.cancel.is_set() or time.monotonic() >= self.deadline

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "op": self.op,
            "phase": self.phase,
            "tokens": self.tokens,
            "max_new_tokens": self.max_new_tokens,
            "progress": min(1.0, self.tokens / max(1, self.max_new_tokens)),
            "elapsed_s": round(time.time() - self.started_at, 3),
            "cancelling": self.cancel.is_set(),
        }


class QwenRuntime:
    """Thread-safe table of running generations plus the last load/generation error."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, Generation] = {}
        self._cancel_ops: dict[str, threading.Event] = {}
        self.last_error: str | None = None
        self.last_finished: dict[str, Any] | None = None

    @contextmanager
    def track(
        self, op: str, *, max_new_tokens: int, timeout_s: float, group: str | None = None
    ) -> Iterator[Generation]:
        """Register a generation while the block runs. Generations sharing a `group` (one caption's windows
        and merge) share one cancel event, so cancelling stops the whole request, not one step of it."""
        gen = Generation(op, max_new_tokens, time.monotonic() + timeout_s)
        with self._lock:
            if group is not None:
                gen.cancel = self._cancel_ops.setdefault(group, gen.cancel)
            self._active[gen.id] = gen
        try:
            yield gen
        finally:
            with self._lock:
                self._active.pop(gen.id, None)
                self.last_finished = {**gen.view(), "finished_at": time.time()}

    @contextmanager
    def group(self) -> Iterator[str]:
        """A cancel group for a request that runs several generations; cancelling it before a step starts
        makes that step stop at its first token."""
        key = uuid.uuid4().hex
        with self._lock:
            self._cancel_ops[key] = threading.Event()
        try:
            yield key
        finally:
            with self._lock:
                self._cancel_ops.pop(key, None)

    def group_cancelled(self, key: str) -> bool:
        with self._lock:
            event = self._cancel_ops.get(key)
        return event is not None and event.is_set()

    def cancel(self, *, ops: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Ask running generations (only those whose op starts with one of `ops`, when given) to stop;
        returns them as they were at that moment."""
        with self._lock:
            targets = [g for g in self._active.values() if not ops or g.op.startswith(ops)]
            for gen in targets:
                gen.cancel.set()
            return [g.view() for g in targets]

    def progress(self) -> dict[str, Any]:
        with self._lock:
            active = [g.view() for g in self._active.values()]
            last = self.last_finished
        current = max(active, key=lambda v: v["elapsed_s"]) if active else None
        return {
            "running": bool(active),
            "active": active,
            "progress": current["progress"] if current else None,
            "tokens": current["tokens"] if current else 0,
            "phase": current["phase"] if current else "idle",
            "last": last,
        }

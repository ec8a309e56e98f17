"""The per-request trace of a prepass: one event per step, warnings, and how long the models took."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

Phase = Literal["intent", "tool_call", "tool_result", "merge", "skip"]


class TraceEvent(BaseModel):
    """One step of the pipeline."""

    step_id: int = Field(description="Order of the step in this run.")
    phase: Phase = Field(description="intent | tool_call | tool_result | merge | skip.")
    tool_name: str = Field(description="yolo, rfdetr, sam3_text, sam3_similarity, dedupe, classifier, caption...")
    summary: str = Field(description="One line about what happened.")
    counts: dict[str, int] = Field(default_factory=dict, description="Boxes in/out, windows, prompts...")
    windows: list[str] = Field(default_factory=list, description="Context names (full, A1, B2...).")
    duration_ms: float = Field(default=0.0, description="Wall time of the step.")
    model_ms: float = Field(default=0.0, description="Time inside model calls during the step.")
    timestamp: float = Field(description="Unix time at the end of the step.")
    tool_input: dict[str, Any] | None = Field(default=None, description="The step's arguments.")


@dataclass
class Trace:
    """Collects events and warnings for one run; nothing in it is shared between runs."""

    events: list[TraceEvent] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    model_seconds: float = 0.0
    _step_model: float = 0.0

    def add(self, phase: Phase, tool: str, summary: str, **extra: Any) -> TraceEvent:
        event = TraceEvent(
            step_id=len(self.events), phase=phase, tool_name=tool, summary=summary, timestamp=time.time(), **extra
        )
        self.events.append(event)
        return event

    def warn(self, warning: str) -> None:
        if warning not in self.warnings:
            self.warnings.append(warning)

    @contextmanager
    def model_call(self) -> Iterator[None]:
        """Time spent inside a model call (summed per step and per run)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            spent = time.perf_counter() - started
            self._step_model += spent
            self.model_seconds += spent

    @contextmanager
    def step(self, tool: str, **tool_input: Any) -> Iterator[dict[str, Any]]:
        """A timed step; the body fills `out` (summary, counts, windows) and the event is added at its end."""
        started, self._step_model = time.perf_counter(), 0.0
        out: dict[str, Any] = {"summary": "", "counts": {}, "windows": []}
        yield out
        self.add(
            out.get("phase", "tool_result"), tool, out["summary"], counts=out["counts"], windows=out["windows"],
            duration_ms=round((time.perf_counter() - started) * 1000, 3), model_ms=round(self._step_model * 1000, 3),
            tool_input=tool_input or None,
        )  # fmt: skip

"""What an event stream has already sent of a job, so each event carries only what changed."""

from __future__ import annotations

from typing import Any, TypeVar

from tator.jobs.types import JobLogLine, JobRecord, MetricPoint


class EventCursor:
    """Remembers the last log line and the last point of each metric series sent to one client.

    The record keeps a bounded log and bounded series (old entries drop off the front), so positions
    are found by the last entry sent, not by index; if that entry has dropped off, everything still
    held is new to the client."""

    def __init__(self) -> None:
        self._last_log: JobLogLine | None = None
        self._last_points: dict[str, MetricPoint] = {}

    def advance(self, record: JobRecord) -> dict[str, Any]:
        """`{"new_logs": [...], "new_metrics": {name: [points]}}` since the previous call."""
        logs = _after(record.logs, self._last_log)
        if record.logs:
            self._last_log = record.logs[-1]
        metrics: dict[str, list[dict[str, float]]] = {}
        for name, series in record.metrics.items():
            fresh = _after(series, self._last_points.get(name))
            if fresh:
                metrics[name] = [point.model_dump() for point in fresh]
                self._last_points[name] = series[-1]
        return {"new_logs": [line.model_dump() for line in logs], "new_metrics": metrics}


T = TypeVar("T")


def _after(items: list[T], last: T | None) -> list[T]:
    if last is None:
        return list(items)
    for index in range(len(items) - 1, -1, -1):
        if items[index] == last:
            return items[index + 1 :]
    return list(items)

"""Training jobs report progress within an epoch, not only between epochs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tator.rfdetr.lightning_hooks import JobProgressHooks
from tator.yolo.train import epoch_callbacks


class RecordingContext:
    def __init__(self) -> None:
        self.reports: list[tuple[float | None, str | None]] = []
        self.cancel = SimpleNamespace(cancelled=False)

    def progress(self, fraction: float | None = None, message: str | None = None, *, phase: str | None = None) -> None:
        del phase
        self.reports.append((fraction, message))

    def metric(self, name: str, step: float, value: float) -> None:
        del name, step, value


def test_yolo_reports_each_batch_of_an_epoch() -> None:
    ctx = RecordingContext()
    callbacks = epoch_callbacks(2, ctx)  # type: ignore[arg-type]
    trainer: Any = SimpleNamespace(epoch=1, train_loader=[0, 1, 2, 3], stop=False, metrics={})
    callbacks["on_train_epoch_start"](trainer)
    callbacks["on_train_batch_end"](trainer)
    callbacks["on_train_batch_end"](trainer)
    assert ctx.reports == [(0.625, "epoch 2/2: batch 1/4"), (0.75, "epoch 2/2: batch 2/4")]


def test_rfdetr_reports_each_batch_of_an_epoch() -> None:
    ctx = RecordingContext()
    hooks = JobProgressHooks(ctx, epochs=4)  # type: ignore[arg-type]
    hooks.batch_done(epoch=0, done=1, total=2)
    hooks.batch_done(epoch=1, done=2, total=float("inf"))
    assert ctx.reports == [(0.125, "epoch 1/4: batch 1/2"), (0.25, "epoch 2/4: batch 2")]

"""Progress and cancellation for RF-DETR training.

rfdetr's `train()` builds its own PyTorch Lightning trainer and takes no extra callbacks, so the
trainer factory it looks up (`rfdetr.training.build_trainer`) is wrapped once per process; the wrapper
appends the hooks registered for the calling thread only, so concurrent jobs never see each other's.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from tator.jobs.context import JobContext

_local = threading.local()
_install_lock = threading.Lock()


class JobProgressHooks:
    """Per-epoch progress and metrics into the job; a cancel stops Lightning after the current batch."""

    def __init__(self, ctx: JobContext, epochs: int) -> None:
        self.ctx = ctx
        self.epochs = epochs
        self.series: list[dict[str, float]] = []

    def lightning_callback(self) -> Any:
        import pytorch_lightning as pl

        hooks = self

        class _Callback(pl.Callback):
            def on_train_batch_end(self, trainer: Any, _module: Any, _outputs: Any, _batch: Any, index: int) -> None:
                hooks.batch_done(int(trainer.current_epoch), index + 1, trainer.num_training_batches)
                if hooks.ctx.cancel.cancelled:
                    trainer.should_stop = True

            def on_train_epoch_end(self, trainer: Any, _module: Any) -> None:
                hooks.epoch_done(int(trainer.current_epoch) + 1, dict(trainer.callback_metrics))
                if hooks.ctx.cancel.cancelled:
                    trainer.should_stop = True

        return _Callback()

    def batch_done(self, epoch: int, done: int, total: float | int) -> None:
        """Progress within an epoch (`epoch` counted from 0; Lightning may report `inf` batches)."""
        count = int(total) if isinstance(total, int) or total == total and total != float("inf") else 0
        within = min(1.0, done / count) if count > 0 else 0.0
        of = f"/{count}" if count > 0 else ""
        self.ctx.progress(
            min(1.0, (epoch + within) / self.epochs), f"epoch {epoch + 1}/{self.epochs}: batch {done}{of}"
        )

    def epoch_done(self, epoch: int, metrics: dict[str, Any]) -> None:
        numbers = {name: _number(value) for name, value in metrics.items()}
        row = {name: value for name, value in numbers.items() if value is not None}
        for name, value in row.items():
            self.ctx.metric(name, epoch, value)
        self.series.append({"epoch": float(epoch), **row})
        map50 = row.get("val/mAP_50", 0.0)
        self.ctx.progress(min(1.0, epoch / self.epochs), f"epoch {epoch}/{self.epochs} mAP50={map50:.3f}")


def _number(value: Any) -> float | None:
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if number == number else None


@contextlib.contextmanager
def training_hooks(hooks: JobProgressHooks) -> Iterator[None]:
    """Attach `hooks` to every Lightning trainer rfdetr builds on this thread while the block runs."""
    _install_wrapper()
    _local.hooks = hooks
    try:
        yield
    finally:
        _local.hooks = None


def _install_wrapper() -> None:
    import rfdetr.training as training

    with _install_lock:
        if getattr(training.build_trainer, "_tator_wrapped", False):
            return
        original = training.build_trainer

        def build_trainer(*args: Any, **kwargs: Any) -> Any:
            trainer: Any = original(*args, **kwargs)
            hooks: JobProgressHooks | None = getattr(_local, "hooks", None)
            if hooks is not None:
                trainer.callbacks.append(hooks.lightning_callback())
            return trainer

        build_trainer._tator_wrapped = True  # type: ignore[attr-defined]
        training.build_trainer = build_trainer

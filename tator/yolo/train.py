"""YOLO training as a job: stage the dataset into the run dir, train with ultralytics, keep the useful
files, and (by default) make the new run the active model so the next predict uses it."""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tator.datasets.labels import labelmap_text
from tator.datasets.training import TrainingDataset, planned_dataset
from tator.datasets.views import export_view
from tator.errors import TrainingProducedNoWeights
from tator.jobs.context import JobContext
from tator.jobs.kinds import Completion, JobKind
from tator.jobs.types import JobRecord
from tator.runtime.active_runs import ActiveRuns, track_run, training_run_record
from tator.storage.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

KIND = "yolo.train"
KEPT_FROM_TRAINER = ("results.csv", "args.yaml")
OPTIMIZERS = frozenset({"auto", "SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSProp"})
TRAIN_OPTIONS = frozenset({
    "lr0", "lrf", "momentum", "weight_decay", "warmup_epochs", "warmup_momentum", "warmup_bias_lr", "box", "cls",
    "dfl", "hsv_h", "hsv_s", "hsv_v", "degrees", "translate", "scale", "shear", "perspective", "flipud", "fliplr",
    "mosaic", "mixup", "copy_paste", "close_mosaic", "optimizer", "cos_lr", "dropout", "rect", "multi_scale",
})  # fmt: skip


class YoloTrainRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dataset_id: str | None = None
    dataset_root: str | None = None
    run_name: str | None = None
    task: Literal["detect", "segment"] = "detect"
    variant: str | None = None  # e.g. yolov8n; None: the server's base model
    from_scratch: bool = False
    base_run_id: str | None = None  # continue from a trained run's best.pt
    epochs: int = Field(default=30, ge=1, le=10_000)
    img_size: int = Field(default=640, ge=32, le=4096)
    batch: int = Field(default=16, ge=1, le=1024)
    seed: int = 0
    patience: int = Field(default=100, ge=0)
    accept_tos: bool = False
    auto_activate: bool = True
    # ultralytics hyper-parameters and augmentations, by name; only the allowlisted ones (no paths).
    augmentations: dict[str, float | str | bool] = Field(default_factory=dict)

    @field_validator("augmentations")
    @classmethod
    def _allowlisted(cls, value: dict[str, float | str | bool]) -> dict[str, float | str | bool]:
        unknown = sorted(set(value) - set(TRAIN_OPTIONS))
        if unknown:
            raise ValueError(f"unsupported training options {unknown}; allowed: {sorted(TRAIN_OPTIONS)}")
        optimizer = value.get("optimizer")
        if optimizer is not None and optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}")
        return value


class YoloTrainPlan(BaseModel):
    """What the preflight resolved, so the job itself does no guessing."""

    request: YoloTrainRequest
    dataset_id: str
    dataset_path: str  # the dataset's folder; the job reads its annotations from there
    dataset_label: str
    labelmap: list[str]
    model_source: str  # .pt or .yaml the training starts from
    offline: bool  # no downloads: ultralytics' AMP check fetches weights, so AMP stays off offline
    notes: list[str] = Field(default_factory=list)


class YoloTrainResult(BaseModel):
    """What a YOLO training (or head-graft) job leaves in its run dir."""

    model_config = ConfigDict(extra="allow")  # a graft adds its labelmap, new classes and checks
    run_dir: str
    best_path: str
    metrics: dict[str, float]
    metrics_path: str
    metrics_series_path: str


def run_record(plan: YoloTrainPlan, job_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return training_run_record(
        job_id,
        status,
        request=plan.request,
        dataset_id=plan.dataset_id,
        dataset_label=plan.dataset_label,
        labelmap=plan.labelmap,
        variant=plan.request.variant or Path(plan.model_source).stem,
        extra=extra,
    )


def stage_dataset(dataset: TrainingDataset, run_dir: Path) -> Path:
    """Write the dataset as YOLO under run_dir/dataset and a data.yaml naming its splits."""
    staged = run_dir / "dataset"
    export_view(dataset.annotations, "yolo", staged)
    splits = {s for s in ("train", "val", "test") if (staged / s / "images").is_dir()}
    val = "val" if "val" in splits else "train"  # no validation split: validate on train (reported)
    names = "\n".join(f"  {i}: {name!r}" for i, name in enumerate(dataset.annotations.classes))
    data_yaml = run_dir / "data.yaml"
    atomic_write_text(data_yaml, f"path: {staged}\ntrain: train/images\nval: {val}/images\nnames:\n{names}\n")
    return data_yaml


def train(plan: YoloTrainPlan, ctx: JobContext) -> YoloTrainResult:
    """The job function: run.json is kept current; success is recorded by `complete_training`."""
    result = track_run(
        ctx.run_dir,
        partial(run_record, plan, ctx.job_id),
        partial(_train, plan, ctx),
        cancelled=lambda: ctx.cancel.cancelled,
    )
    return YoloTrainResult.model_validate(result)


def complete_training(runs: ActiveRuns) -> Completion:
    """The completion step (in the server): run.json says succeeded, then auto-activation."""

    def complete(record: JobRecord) -> dict[str, Any]:
        plan = YoloTrainPlan.model_validate(record.params)
        fields = run_record(plan, record.job_id, "succeeded", **(record.result or {}))
        return runs.finish(record.job_id, fields, auto_activate=plan.request.auto_activate)

    return complete


YOLO_TRAIN = JobKind(KIND, train, YoloTrainPlan, YoloTrainResult, resource="gpu")


def _train(plan: YoloTrainPlan, ctx: JobContext) -> dict[str, Any]:
    for note in plan.notes:
        ctx.log(note)
    ctx.progress(0.0, "staging dataset", phase="stage")
    dataset = planned_dataset(plan.dataset_path, plan.labelmap)
    data_yaml = stage_dataset(dataset, ctx.run_dir)
    atomic_write_text(ctx.run_dir / "labelmap.txt", labelmap_text(plan.labelmap))
    ctx.checkpoint()
    import ultralytics

    model: Any = ultralytics.YOLO(plan.model_source, task=plan.request.task)  # type: ignore[attr-defined]
    for event, callback in _callbacks(plan, ctx).items():
        model.add_callback(event, callback)
    ctx.progress(0.0, "training", phase="train")
    req = plan.request
    model.train(**trainer_args(data_yaml, req, ctx, offline=plan.offline), **req.augmentations)
    ctx.checkpoint()  # a cancel stops ultralytics between batches; the job still ends as cancelled
    return keep_outputs(ctx.run_dir, ctx)


def _callbacks(plan: YoloTrainPlan, ctx: JobContext) -> dict[str, Callable[[Any], None]]:
    return epoch_callbacks(plan.request.epochs, ctx)


def epoch_callbacks(epochs: int, ctx: JobContext) -> dict[str, Callable[[Any], None]]:
    """ultralytics callbacks reporting per-epoch metrics/progress to `ctx` and stopping on cancel."""

    def on_batch_end(trainer: Any) -> None:
        if ctx.cancel.cancelled:
            trainer.stop = True

    def on_fit_epoch_end(trainer: Any) -> None:
        epoch = int(trainer.epoch) + 1
        if epoch > epochs:  # ultralytics' final validation of best.pt reports once more past the end
            return
        metrics = {k: float(v) for k, v in dict(trainer.metrics or {}).items() if _is_number(v)}
        for name, value in metrics.items():
            ctx.metric(name, epoch, value)
        map50 = metrics.get("metrics/mAP50(B)", 0.0)
        ctx.progress(epoch / epochs, f"epoch {epoch}/{epochs} mAP50={map50:.3f}", phase="train")
        if ctx.cancel.cancelled:
            trainer.stop = True

    return {"on_train_batch_end": on_batch_end, "on_fit_epoch_end": on_fit_epoch_end}


def keep_outputs(run_dir: Path, ctx: JobContext) -> dict[str, Any]:
    """Copy best.pt and the useful trainer files to the run dir, write metrics, drop the rest."""
    trainer_dir = run_dir / "train"
    best = trainer_dir / "weights" / "best.pt"
    if not best.is_file():
        best = trainer_dir / "weights" / "last.pt"
    if not best.is_file():
        raise TrainingProducedNoWeights("ultralytics finished without writing weights")
    shutil.copy2(best, run_dir / "best.pt")
    for name in KEPT_FROM_TRAINER:
        if (trainer_dir / name).is_file():
            shutil.copy2(trainer_dir / name, run_dir / name)
    series = _read_results_csv(run_dir / "results.csv")
    final = series[-1] if series else {}
    atomic_write_json(run_dir / "metrics_series.json", series)
    atomic_write_json(run_dir / "metrics.json", final)
    shutil.rmtree(trainer_dir, ignore_errors=True)
    shutil.rmtree(run_dir / "dataset", ignore_errors=True)
    ctx.log(f"kept best.pt and metrics; mAP50={final.get('metrics/mAP50(B)', 0.0):.4f}")
    return {
        "run_dir": str(run_dir),
        "best_path": str(run_dir / "best.pt"),
        "metrics": final,
        "metrics_path": str(run_dir / "metrics.json"),
        "metrics_series_path": str(run_dir / "metrics_series.json"),
    }


def _read_results_csv(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k.strip(): float(v) for k, v in row.items() if k and _is_number(v)} for row in rows]


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


class TrainSettings(Protocol):
    """The request fields every YOLO training job (plain training, head graft) has."""

    epochs: int
    img_size: int
    batch: int
    seed: int
    patience: int


def trainer_args(data_yaml: Path, req: TrainSettings, ctx: JobContext, *, offline: bool) -> dict[str, Any]:
    """The ultralytics `train()` arguments every YOLO job shares: the run's own paths, no dataloader
    workers, no plots, AMP only on CUDA and only online (its check downloads weights)."""
    return {
        "data": str(data_yaml), "epochs": req.epochs, "imgsz": req.img_size, "batch": req.batch, "workers": 0,
        "device": ultralytics_device(ctx.device), "amp": ctx.device.startswith("cuda") and not offline,
        "plots": False, "seed": req.seed, "patience": req.patience, "project": str(ctx.run_dir), "name": "train",
        "exist_ok": True, "verbose": False,
    }  # fmt: skip


def ultralytics_device(device: str) -> str:
    """Our device name ("cpu", "cuda:1") as ultralytics' `device` argument ("cpu", "1")."""
    return device.split(":", 1)[1] if device.startswith("cuda:") else device

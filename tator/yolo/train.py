"""YOLO training as a job: stage the dataset into the run dir, train with ultralytics, keep the useful
files, and (by default) make the new run the active model so the next predict uses it."""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tator.datasets.labels import labelmap_text
from tator.datasets.training import TrainingDataset, planned_dataset
from tator.datasets.views import export_view
from tator.errors import TrainingProducedNoWeights
from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind
from tator.runtime.active_runs import run_training, training_completion, training_run_record
from tator.storage.files import atomic_copy, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

KIND = "yolo.train"
KEPT_FROM_TRAINER = ("results.csv", "args.yaml")
OPTIMIZERS = frozenset({"auto", "SGD", "Adam", "AdamW", "NAdam", "RAdam", "RMSProp"})
FRACTION = (0.0, 1.0)
# ultralytics hyper-parameters and augmentations a request may set, with the range ultralytics accepts
# (its own check runs only once the job has started, so an out-of-range value would fail the job).
TRAIN_OPTION_RANGES: dict[str, tuple[float, float]] = {
    **dict.fromkeys((
        "lr0", "lrf", "momentum", "weight_decay", "warmup_momentum", "warmup_bias_lr", "hsv_h", "hsv_s", "hsv_v",
        "translate", "perspective", "flipud", "fliplr", "mosaic", "mixup", "copy_paste", "dropout", "multi_scale",
    ), FRACTION),
    **dict.fromkeys(("warmup_epochs", "box", "cls", "dfl", "scale"), (0.0, 1000.0)),
    "degrees": (-180.0, 180.0), "shear": (-180.0, 180.0), "close_mosaic": (0.0, 10_000.0),
}  # fmt: skip
BOOL_OPTIONS = frozenset({"rect", "cos_lr"})
TRAIN_OPTIONS = frozenset({*TRAIN_OPTION_RANGES, *BOOL_OPTIONS, "optimizer"})


class YoloJobOptions(BaseModel):
    """Contract fields every YOLO training job takes (plain training and head graft); each is carried out
    or refused with a code before anything is queued, never silently dropped."""

    workers: int = Field(default=0, ge=0, le=32, description="dataloader worker processes (0: load in the job)")
    accelerator: Literal["auto", "cuda", "mps", "cpu"] = Field(
        default="auto", description="auto: a free GPU, else the CPU; cpu pins the CPU; mps is refused"
    )
    devices: list[int] | None = Field(
        default=None, description="one CUDA device index to pin the job to (multi-GPU is refused)"
    )
    export_onnx: bool = Field(
        default=False, description="also export best.onnx into the run (and its download); needs the onnx package"
    )


class YoloTrainRequest(YoloJobOptions):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"dataset_id": "shapes", "accept_tos": True, "epochs": 30, "augmentations": {"mosaic": 0.5}}]
        },
    )
    dataset_id: str | None = Field(
        default=None,
        description="Dataset to train on (as listed by GET /datasets). One of dataset_id or dataset_root is required.",
    )
    dataset_root: str | None = Field(
        default=None,
        description=(
            "Legacy alternative to dataset_id: a dataset folder path; only its last component is used, "
            "looked up among the server's datasets."
        ),
    )
    run_name: str | None = Field(
        default=None, description="Display name of the run (default: derived from the dataset)."
    )
    task: Literal["detect", "segment"] = Field(
        default="detect", description="detect (boxes) or segment (polygons; the dataset must have them)."
    )
    variant: str | None = Field(
        default=None, description="Architecture, e.g. yolov8n (GET /yolo/variants); default: the server's base model."
    )  # e.g. yolov8n; None: the server's base model
    from_scratch: bool = Field(default=False, description="Start from random weights instead of pretrained ones.")
    base_run_id: str | None = Field(
        default=None, description="Continue from this trained run's best weights (GET /yolo/runs)."
    )  # continue from a trained run's best.pt
    epochs: int = Field(default=30, ge=1, le=10_000, description="Training epochs.")
    img_size: int = Field(default=640, ge=32, le=4096, description="Training image size in pixels (square).")
    batch: int = Field(default=16, ge=1, le=1024, description="Images per batch.")
    seed: int = Field(default=0, description="Random seed.")
    patience: int = Field(default=100, ge=0, description="Epochs without improvement before stopping early (0: never).")
    base_weights: str | None = Field(
        default=None, description="refused: server paths are not accepted; continue a trained run with base_run_id"
    )
    accept_tos: bool = Field(
        default=False,
        description="Must be true: acknowledges the model library's licence (Ultralytics AGPL-3.0 / RF-DETR).",
    )
    auto_activate: bool = Field(
        default=True, description="Make the finished run the active model, so the next predict uses it."
    )
    # ultralytics hyper-parameters and augmentations, by name; only the allowlisted ones (no paths).
    augmentations: dict[str, float | str | bool] = Field(
        default_factory=dict,
        description=(
            'ultralytics hyper-parameters and augmentations by name, range-checked here (e.g. {"mosaic": '
            '0.5, "fliplr": 0.5, "lr0": 0.01}); see the API guide for names and ranges.'
        ),
    )

    @field_validator("augmentations")
    @classmethod
    def _allowlisted(cls, value: dict[str, float | str | bool]) -> dict[str, float | str | bool]:
        unknown = sorted(set(value) - set(TRAIN_OPTIONS))
        if unknown:
            raise ValueError(f"unsupported training options {unknown}; allowed: {sorted(TRAIN_OPTIONS)}")
        optimizer = value.get("optimizer")
        if optimizer is not None and optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}")
        for name, option in value.items():
            check_option(name, option)
        return value


def check_option(name: str, value: float | str | bool) -> None:
    """One training option against its type and range (ValueError names the option and what is allowed)."""
    if name in BOOL_OPTIONS:
        if not isinstance(value, bool):
            raise ValueError(f"augmentations.{name} must be true or false")
        return
    bounds = TRAIN_OPTION_RANGES.get(name)
    if bounds is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"augmentations.{name} must be a number between {bounds[0]} and {bounds[1]}")
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(
            f"augmentations.{name}={value} is out of range: use a value between {bounds[0]} and {bounds[1]}"
        )


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
    return YoloTrainResult.model_validate(run_training(plan, ctx, run_record, _train))


complete_training = training_completion(YoloTrainPlan, run_record)


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
    result = keep_outputs(ctx.run_dir, ctx)
    if req.export_onnx:
        result["onnx_path"] = str(export_onnx(ctx.run_dir / "best.pt", req.img_size, ctx))
    return result


def export_onnx(weights: Path, img_size: int, ctx: JobContext) -> Path:
    """Export trained weights to `<stem>.onnx` beside them (ultralytics' exporter, no simplification)."""
    import ultralytics

    ctx.progress(1.0, "exporting ONNX", phase="export")
    model: Any = ultralytics.YOLO(str(weights))  # type: ignore[attr-defined]
    exported = Path(model.export(format="onnx", imgsz=img_size, simplify=False, device=ultralytics_device(ctx.device)))
    target = weights.with_suffix(".onnx")
    if exported != target:
        shutil.move(exported, target)
    ctx.log(f"exported {target.name} ({target.stat().st_size} bytes)")
    return target


def _callbacks(plan: YoloTrainPlan, ctx: JobContext) -> dict[str, Callable[[Any], None]]:
    return epoch_callbacks(plan.request.epochs, ctx)


def epoch_callbacks(epochs: int, ctx: JobContext) -> dict[str, Callable[[Any], None]]:
    """ultralytics callbacks reporting metrics per epoch, progress per batch (within the epoch too) to
    `ctx`, and stopping on cancel."""
    batches = {"done": 0}

    def on_epoch_start(_trainer: Any) -> None:
        batches["done"] = 0

    def on_batch_end(trainer: Any) -> None:
        batches["done"] += 1
        loader = getattr(trainer, "train_loader", None)
        total = len(loader) if loader is not None else 0
        epoch = int(trainer.epoch)
        within = min(1.0, batches["done"] / total) if total else 0.0
        ctx.progress(
            min(1.0, (epoch + within) / epochs), f"epoch {epoch + 1}/{epochs}: batch {batches['done']}/{total}"
        )
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

    return {
        "on_train_epoch_start": on_epoch_start,
        "on_train_batch_end": on_batch_end,
        "on_fit_epoch_end": on_fit_epoch_end,
    }


def keep_outputs(run_dir: Path, ctx: JobContext) -> dict[str, Any]:
    """Copy best.pt and the useful trainer files to the run dir, write metrics, drop the rest."""
    trainer_dir = run_dir / "train"
    best = trainer_dir / "weights" / "best.pt"
    if not best.is_file():
        best = trainer_dir / "weights" / "last.pt"
    if not best.is_file():
        raise TrainingProducedNoWeights("ultralytics finished without writing weights")
    atomic_copy(best, run_dir / "best.pt", pause="yolo.keep_outputs.best_pt")
    for name in KEPT_FROM_TRAINER:
        if (trainer_dir / name).is_file():
            atomic_copy(trainer_dir / name, run_dir / name)
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
    workers: int


def trainer_args(data_yaml: Path, req: TrainSettings, ctx: JobContext, *, offline: bool) -> dict[str, Any]:
    """The ultralytics `train()` arguments every YOLO job shares: the run's own paths, the requested
    dataloader workers, no plots, AMP only on CUDA and only online (its check downloads weights)."""
    return {
        "data": str(data_yaml), "epochs": req.epochs, "imgsz": req.img_size, "batch": req.batch, "workers": req.workers,
        "device": ultralytics_device(ctx.device), "amp": ctx.device.startswith("cuda") and not offline,
        "plots": False, "seed": req.seed, "patience": req.patience, "project": str(ctx.run_dir), "name": "train",
        "exist_ok": True, "verbose": False,
    }  # fmt: skip


def ultralytics_device(device: str) -> str:
    """Our device name ("cpu", "cuda:1") as ultralytics' `device` argument ("cpu", "1")."""
    return device.split(":", 1)[1] if device.startswith("cuda:") else device

"""RF-DETR training as a job: stage the dataset as Roboflow-style COCO in the run dir (never in the
source dataset), train with rfdetr, keep the checkpoints, and activate the run on success."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tator.datasets.labels import labelmap_text
from tator.datasets.training import TrainingDataset, planned_dataset
from tator.datasets.views import export_view
from tator.errors import TrainingProducedNoWeights
from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind
from tator.rfdetr.lightning_hooks import JobProgressHooks, training_hooks
from tator.runtime.active_runs import run_training, training_completion, training_run_record
from tator.storage.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

KIND = "rfdetr.train"
KEPT = ("checkpoint_best_total.pth", "checkpoint_best_ema.pth", "checkpoint_best_regular.pth", "results.json",
        "log.txt")  # fmt: skip


class RfdetrTrainRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"dataset_id": "shapes", "accept_tos": True, "epochs": 20, "variant": "rfdetr-nano"}]
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
        default=None,
        description="Model size, e.g. rfdetr-nano (GET /rfdetr/variants); default: the server's base model.",
    )  # rfdetr-nano ...; None: the server's base model
    from_scratch: bool = Field(default=False, description="Start from random weights instead of pretrained ones.")
    epochs: int = Field(default=20, ge=1, le=10_000, description="Training epochs.")
    batch: int = Field(default=4, ge=1, le=512, description="Images per batch.")
    grad_accum: int = Field(
        default=1, ge=1, le=256, description="Gradient accumulation steps (effective batch = batch x grad_accum)."
    )
    resolution: int | None = Field(
        default=None,
        ge=32,
        le=2048,
        description="Input resolution in pixels (a multiple of the model's patch size; default: the model's).",
    )
    seed: int = Field(default=0, description="Random seed.")
    lr: float | None = Field(default=None, gt=0, description="Learning rate (default: the library's).")
    use_ema: bool = Field(default=False, description="Keep an exponential moving average of the weights.")
    early_stopping: bool = Field(default=False, description="Stop when validation mAP stops improving.")
    early_stopping_patience: int = Field(
        default=10, ge=1, description="Epochs without improvement before early stopping."
    )
    workers: int = Field(default=0, ge=0, le=32, description="dataloader worker processes (0: load in the job)")
    devices: list[int] | None = Field(
        default=None, description="one CUDA device index to pin the job to (multi-GPU is refused)"
    )
    multi_scale: bool | None = Field(default=None, description="random training scales per batch (None: rfdetr's)")
    expanded_scales: bool | None = Field(default=None, description="a wider range of scales (None: rfdetr's)")
    pretrain_weights: str | None = Field(
        default=None, description="refused: server paths are not accepted; choose a variant or from_scratch"
    )
    augmentations: dict[str, Any] = Field(
        default_factory=dict, description="refused when not empty: RF-DETR training takes no augmentation options"
    )
    accept_tos: bool = Field(
        default=False,
        description="Must be true: acknowledges the model library's licence (Ultralytics AGPL-3.0 / RF-DETR).",
    )
    auto_activate: bool = Field(
        default=True, description="Make the finished run the active model, so the next predict uses it."
    )


class RfdetrTrainPlan(BaseModel):
    request: RfdetrTrainRequest
    dataset_id: str
    dataset_path: str  # the dataset's folder; the job reads its annotations from there
    dataset_label: str
    labelmap: list[str]
    model_class: str  # rfdetr class name, e.g. RFDETRNano
    pretrain_weights: str | None  # a local checkpoint, "default" (the library's weights), None (random)


class RfdetrTrainResult(BaseModel):
    run_dir: str
    best_path: str
    metrics: dict[str, float]


def run_record(plan: RfdetrTrainPlan, job_id: str, status: str, **extra: Any) -> dict[str, Any]:
    return training_run_record(
        job_id,
        status,
        request=plan.request,
        dataset_id=plan.dataset_id,
        dataset_label=plan.dataset_label,
        labelmap=plan.labelmap,
        variant=plan.request.variant or plan.model_class,
        extra=extra,
    )


def stage_dataset(dataset: TrainingDataset, run_dir: Path) -> Path:
    """`run_dir/dataset/{train,valid,test}/_annotations.coco.json` with category ids 0..N-1.
    Without a validation split the training images validate too; without a test split, valid does."""
    staged = run_dir / "dataset"
    export_view(dataset.annotations, "coco", staged, zero_based=True, split_dirs={"val": "valid"})
    for missing, source in (("valid", "train"), ("test", "valid")):
        if not (staged / missing).is_dir():
            shutil.copytree(staged / source, staged / missing, copy_function=_link_or_copy)
    return staged


def train(plan: RfdetrTrainPlan, ctx: JobContext) -> RfdetrTrainResult:
    """The job function: run.json is kept current; success is recorded by `complete_training`."""
    return RfdetrTrainResult.model_validate(run_training(plan, ctx, run_record, _train))


complete_training = training_completion(RfdetrTrainPlan, run_record)


RFDETR_TRAIN = JobKind(KIND, train, RfdetrTrainPlan, RfdetrTrainResult, resource="gpu")


def _train(plan: RfdetrTrainPlan, ctx: JobContext) -> dict[str, Any]:
    ctx.progress(0.0, "staging dataset as COCO", phase="stage")
    dataset = planned_dataset(plan.dataset_path, plan.labelmap)
    staged = stage_dataset(dataset, ctx.run_dir)
    atomic_write_text(ctx.run_dir / "labelmap.txt", labelmap_text(plan.labelmap))
    ctx.checkpoint()
    import rfdetr

    req = plan.request
    kwargs: dict[str, Any] = {"device": ctx.device}
    if plan.pretrain_weights != "default":  # "default": the library's own (downloaded) weights
        kwargs["pretrain_weights"] = plan.pretrain_weights
    if req.resolution:
        kwargs["resolution"] = req.resolution
    model = getattr(rfdetr, plan.model_class)(**kwargs)
    ctx.progress(0.0, "training", phase="train")
    hooks = JobProgressHooks(ctx, req.epochs)
    with training_hooks(hooks):
        model.train(**train_options(plan, staged, ctx.run_dir, ctx.device))
    ctx.checkpoint()
    return _keep_outputs(ctx, hooks.series)


def train_options(plan: RfdetrTrainPlan, staged: Path, run_dir: Path, device: str) -> dict[str, Any]:
    """RF-DETR's `train()` arguments: every request option that reaches the trainer, nothing dropped."""
    req = plan.request
    options: dict[str, Any] = {
        "dataset_dir": str(staged), "output_dir": str(run_dir), "epochs": req.epochs, "batch_size": req.batch,
        "grad_accum_steps": req.grad_accum, "num_workers": req.workers, "device": device, "tensorboard": False,
        "use_ema": req.use_ema, "progress_bar": None, "seed": req.seed, "early_stopping": req.early_stopping,
        "early_stopping_patience": req.early_stopping_patience, "class_names": plan.labelmap,
    }  # fmt: skip
    if req.lr:
        options["lr"] = req.lr
    for name in ("multi_scale", "expanded_scales"):
        if getattr(req, name) is not None:
            options[name] = getattr(req, name)
    return options


def _keep_outputs(ctx: JobContext, series: list[dict[str, float]]) -> dict[str, Any]:
    run_dir = ctx.run_dir
    best = next((run_dir / name for name in KEPT[:3] if (run_dir / name).is_file()), None)
    if best is None:
        raise TrainingProducedNoWeights("rfdetr finished without writing a best checkpoint")
    final = series[-1] if series else {}
    atomic_write_json(run_dir / "metrics_series.json", series)
    atomic_write_json(run_dir / "metrics.json", final)
    # Keep one best checkpoint (115 MB for Nano) and the small files; Lightning's full checkpoints
    # and the other best variants would triple the run's size.
    keep = {best.name, "results.json", "log.txt", "labelmap.txt", "metrics.json", "metrics_series.json", "run.json",
            "job.log"}  # fmt: skip
    for path in run_dir.iterdir():
        if path.name not in keep:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    ctx.log(f"kept {best.name}; mAP50={final.get('val/mAP_50', 0.0):.4f}")
    return {"run_dir": str(run_dir), "best_path": str(best), "metrics": final}


def _link_or_copy(src: str, dst: str) -> str:
    try:
        Path(dst).hardlink_to(src)
    except OSError:
        shutil.copy2(src, dst)
    return dst

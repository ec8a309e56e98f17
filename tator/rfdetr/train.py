"""RF-DETR training as a job: stage the dataset as Roboflow-style COCO in the run dir (never in the
source dataset), train with rfdetr, keep the checkpoints, and activate the run on success."""

from __future__ import annotations

import logging
import shutil
from functools import partial
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tator.datasets.labels import labelmap_text
from tator.datasets.training import TrainingDataset, planned_dataset
from tator.datasets.views import export_view
from tator.errors import TrainingProducedNoWeights
from tator.jobs.context import JobContext
from tator.jobs.kinds import Completion, JobKind
from tator.jobs.types import JobRecord
from tator.rfdetr.lightning_hooks import JobProgressHooks, training_hooks
from tator.runtime.active_runs import ActiveRuns, track_run, training_run_record
from tator.storage.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

KIND = "rfdetr.train"
KEPT = ("checkpoint_best_total.pth", "checkpoint_best_ema.pth", "checkpoint_best_regular.pth", "results.json",
        "log.txt")  # fmt: skip


class RfdetrTrainRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dataset_id: str | None = None
    dataset_root: str | None = None
    run_name: str | None = None
    task: Literal["detect", "segment"] = "detect"
    variant: str | None = None  # rfdetr-nano ...; None: the server's base model
    from_scratch: bool = False
    epochs: int = Field(default=20, ge=1, le=10_000)
    batch: int = Field(default=4, ge=1, le=512)
    grad_accum: int = Field(default=1, ge=1, le=256)
    resolution: int | None = Field(default=None, ge=32, le=2048)
    seed: int = 0
    lr: float | None = Field(default=None, gt=0)
    use_ema: bool = False
    early_stopping: bool = False
    early_stopping_patience: int = Field(default=10, ge=1)
    accept_tos: bool = False
    auto_activate: bool = True


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
    result = track_run(
        ctx.run_dir,
        partial(run_record, plan, ctx.job_id),
        partial(_train, plan, ctx),
        cancelled=lambda: ctx.cancel.cancelled,
    )
    return RfdetrTrainResult.model_validate(result)


def complete_training(runs: ActiveRuns) -> Completion:
    """The completion step (in the server): run.json says succeeded, then auto-activation."""

    def complete(record: JobRecord) -> dict[str, Any]:
        plan = RfdetrTrainPlan.model_validate(record.params)
        fields = run_record(plan, record.job_id, "succeeded", **(record.result or {}))
        return runs.finish(record.job_id, fields, auto_activate=plan.request.auto_activate)

    return complete


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
    options: dict[str, Any] = {
        "dataset_dir": str(staged), "output_dir": str(ctx.run_dir), "epochs": req.epochs, "batch_size": req.batch,
        "grad_accum_steps": req.grad_accum, "num_workers": 0, "device": ctx.device, "tensorboard": False,
        "use_ema": req.use_ema, "progress_bar": None, "seed": req.seed, "early_stopping": req.early_stopping,
        "early_stopping_patience": req.early_stopping_patience, "class_names": plan.labelmap,
    }  # fmt: skip
    if req.lr:
        options["lr"] = req.lr
    ctx.progress(0.0, "training", phase="train")
    hooks = JobProgressHooks(ctx, req.epochs)
    with training_hooks(hooks):
        model.train(**options)
    ctx.checkpoint()
    return _keep_outputs(ctx, hooks.series)


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

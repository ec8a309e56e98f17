"""The head-graft job: widen the base run's head with the new classes, train only the new class convs,
merge them into the untouched base, check the base outputs did not move, keep the files, activate.

Every status change of the run is appended to its head_graft_audit.jsonl and mirrored into run.json.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tator.datasets.formats.model import DatasetAnnotations
from tator.datasets.labels import labelmap_text
from tator.datasets.training import TrainingDataset, planned_dataset
from tator.errors import InternalError, TatorError, YoloBaseCheckpointUnsupported
from tator.jobs.context import JobContext
from tator.jobs.kinds import Completion, JobKind
from tator.jobs.types import JobRecord
from tator.runtime.active_runs import ActiveRuns
from tator.storage.files import atomic_write_json, atomic_write_text
from tator.storage.runs import RUN_RECORD
from tator.yolo.graft_plan import KIND, MODEL_YAML_NAME, HeadGraftPlan, append_audit, run_record
from tator.yolo.train import YoloTrainResult, epoch_callbacks, keep_outputs, stage_dataset, trainer_args

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

START_NAME = "graft_start.pt"
SANITY_IMAGES = 3


def run_graft(plan: HeadGraftPlan, ctx: JobContext) -> YoloTrainResult:
    """The job function; the run dir is `ctx.run_dir`. Success is recorded by `complete_graft`."""
    created = _created_at(ctx.run_dir)
    _status(plan, ctx.run_dir, ctx.job_id, "running", created)
    try:
        result = _graft(plan, ctx)
    except BaseException as exc:
        status = "cancelled" if ctx.cancel.cancelled else "failed"
        code = exc.code if isinstance(exc, TatorError) else type(exc).__name__
        _status(plan, ctx.run_dir, ctx.job_id, status, created, error=str(exc)[:500], error_code=code)
        raise
    return YoloTrainResult.model_validate(result)


def complete_graft(runs: ActiveRuns) -> Completion:
    """The completion step (in the server): run.json and the audit say succeeded, then auto-activation."""

    def complete(record: JobRecord) -> dict[str, Any]:
        plan = HeadGraftPlan.model_validate(record.params)
        run_dir = runs.store.path(plan.run_id)
        _status(plan, run_dir, record.job_id, "succeeded", _created_at(run_dir), **(record.result or {}))
        if not plan.request.auto_activate:
            return {}
        runs.activate(plan.run_id)
        append_audit(run_dir, "activated", job_id=record.job_id)
        return {"activated": True}

    return complete


YOLO_HEAD_GRAFT = JobKind(KIND, run_graft, HeadGraftPlan, YoloTrainResult, resource="gpu")


def _created_at(run_dir: Path) -> float:
    try:
        return float(json.loads((run_dir / RUN_RECORD).read_text(encoding="utf-8")).get("created_at") or time.time())
    except (OSError, ValueError, TypeError, AttributeError):
        return time.time()


def _status(plan: HeadGraftPlan, run_dir: Path, job_id: str, status: str, created: float, /, **extra: Any) -> None:
    atomic_write_json(run_dir / RUN_RECORD, run_record(plan, status, created_at=created, **extra))
    fields = {k: extra[k] for k in ("error", "error_code", "base_outputs_identical") if k in extra}
    append_audit(run_dir, "status", status=status, job_id=job_id, **fields)


def merged_annotations(ann: DatasetAnnotations, plan: HeadGraftPlan) -> DatasetAnnotations:
    """The dataset relabelled onto the merged labelmap (class ids through `plan.class_map`)."""
    images = tuple(
        replace(image, objects=tuple(replace(obj, class_id=plan.class_map[obj.class_id])
                                     for obj in image.objects if 0 <= obj.class_id < len(plan.class_map)))
        for image in ann.images
    )  # fmt: skip
    return replace(ann, classes=tuple(plan.labelmap), images=images)


def _graft(plan: HeadGraftPlan, ctx: JobContext) -> dict[str, Any]:
    import torch

    from tator.yolo.graft_checkpoint import detection_model, load_restricted, plain_train_args, save_checkpoint
    from tator.yolo.graft_model import copy_new_convs, expand_head

    for note in plan.warnings:
        ctx.log(note)
    ctx.progress(0.0, "staging dataset", phase="stage")
    dataset = planned_dataset(plan.dataset_path, plan.dataset_classes)
    data_yaml = stage_dataset(replace(dataset, annotations=merged_annotations(dataset.annotations, plan)), ctx.run_dir)
    atomic_write_text(ctx.run_dir / "labelmap.txt", labelmap_text(plan.labelmap))
    base_ckpt = load_restricted(Path(plan.base_weights), YoloBaseCheckpointUnsupported)
    base = detection_model(base_ckpt, YoloBaseCheckpointUnsupported)
    dtype = next(base.parameters()).dtype
    base = base.float().eval()
    start = expand_head(copy.deepcopy(base), plan.labelmap)
    save_checkpoint(start, ctx.run_dir / START_NAME, train_args=plain_train_args(base_ckpt), dtype=torch.float32)
    ctx.checkpoint()
    ctx.log(f"grafting {len(plan.new_classes)} classes onto {len(plan.base_labelmap)}: {', '.join(plan.new_classes)}")
    _train(plan, ctx, data_yaml)
    result = keep_outputs(ctx.run_dir, ctx)
    ctx.progress(1.0, "merging the new class convs into the base", phase="merge")
    trained_ckpt = load_restricted(ctx.run_dir / "best.pt", InternalError)
    copy_new_convs(start, detection_model(trained_ckpt, InternalError))
    best = ctx.run_dir / "best.pt"
    save_checkpoint(start, best, train_args=plain_train_args(trained_ckpt), dtype=dtype)
    (ctx.run_dir / START_NAME).unlink(missing_ok=True)
    merged = detection_model(load_restricted(best, InternalError), InternalError).float().eval()
    identical = base_outputs_identical(base, merged, len(plan.base_labelmap), plan.request.img_size)
    if not identical:
        raise InternalError("the grafted model changed the base classes' outputs")
    write_model_yaml(ctx.run_dir / MODEL_YAML_NAME, merged)
    sanity = sanity_check(best, dataset, len(plan.labelmap), plan.request.img_size)
    ctx.log(f"merged; base outputs identical; sanity {sanity}")
    return {**result, "labelmap": plan.labelmap, "new_classes": plan.new_classes,
            "base_outputs_identical": identical, "sanity": sanity}  # fmt: skip


def _train(plan: HeadGraftPlan, ctx: JobContext, data_yaml: Path) -> None:
    import ultralytics

    from tator.yolo.graft_model import graft_trainer, new_class_freeze

    model: Any = ultralytics.YOLO(str(ctx.run_dir / START_NAME), task="detect")  # type: ignore[attr-defined]
    for event, callback in epoch_callbacks(plan.request.epochs, ctx).items():
        model.add_callback(event, callback)
    ctx.progress(0.0, "training the new class convs", phase="train")
    args = trainer_args(data_yaml, plan.request, ctx, offline=plan.offline)
    model.train(trainer=graft_trainer(model.model), freeze=new_class_freeze(model.model), **args)
    ctx.checkpoint()  # a cancel stops ultralytics between batches; the job still ends as cancelled


def raw_outputs(model: torch.nn.Module, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(boxes, class logits) of every head branch for one seeded random image of `size` px, on CPU."""
    import torch

    generator = torch.Generator().manual_seed(0)
    side = max(32, (size + 31) // 32 * 32)
    image = torch.rand((1, 3, side, side), generator=generator)
    with torch.no_grad():
        output = model.cpu()(image)
    preds = output[1] if isinstance(output, tuple) else output
    branches = [preds[k] for k in ("one2many", "one2one") if k in preds] if "scores" not in preds else [preds]
    return [(branch["boxes"], branch["scores"]) for branch in branches]


def base_outputs_identical(base: torch.nn.Module, merged: torch.nn.Module, base_nc: int, size: int) -> bool:
    """True when the merged model's boxes and base-class logits equal the base model's, bit for bit."""
    import torch

    pairs = zip(raw_outputs(base, size), raw_outputs(merged, size), strict=True)
    return all(torch.equal(b_box, m_box) and torch.equal(b_cls, m_cls[:, :base_nc]) for (b_box, b_cls), (m_box, m_cls)
               in pairs)  # fmt: skip


def write_model_yaml(dest: Path, model: torch.nn.Module) -> None:
    """The merged model's architecture (ultralytics yaml plus the graft record), for the bundle."""
    import yaml

    atomic_write_text(dest, yaml.safe_dump(dict(getattr(model, "yaml", {}) or {}), sort_keys=False))


def sanity_check(best: Path, dataset: TrainingDataset, nc: int, size: int) -> dict[str, Any]:
    """Predict on a few dataset images with the merged model: counts, and whether every class id is known."""
    import ultralytics

    paths = [str(dataset.annotations.root / image.path) for image in dataset.annotations.images[:SANITY_IMAGES]]
    model: Any = ultralytics.YOLO(str(best), task="detect")  # type: ignore[attr-defined]
    results = model.predict(paths, imgsz=size, conf=0.001, device="cpu", verbose=False) if paths else []
    classes = [int(c) for result in results for c in result.boxes.cls.tolist()]
    return {"images": len(paths), "detections": len(classes), "class_ids_in_range": all(0 <= c < nc for c in classes)}

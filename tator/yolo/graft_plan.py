"""Head-graft requests and the checks shared by the dry run and the start: base run, dataset, class overlap.

Nothing here writes; every refusal happens before a job is queued. Class names are compared only through
`normalise_label`. A dataset class already in the base labelmap is not grafted again: it is dropped from the
new head (its boxes train as the base class, which stays frozen) with a warning; a dataset with no new class
at all is refused (`yolo_labelmap_overlap`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.datasets.labels import normalise_label, read_labelmap
from tator.datasets.training import TrainingDataset, resolve_training_dataset
from tator.datasets.views import yolo_view
from tator.errors import (
    DatasetHasNoBoxes,
    DatasetNotYoloReady,
    InvalidId,
    JobNotFound,
    LabelmapMissing,
    TatorError,
    YoloBaseCheckpointUnsupported,
    YoloBaseLabelmapMissing,
    YoloBaseMissing,
    YoloBaseMissingBest,
    YoloGraftDetectOnly,
    YoloLabelmapOverlap,
    YoloRunExists,
)
from tator.jobs.manager import JobManager
from tator.runtime.active_runs import ActiveRuns, training_run_record
from tator.storage.layout import Layout
from tator.storage.paths import check_id

KIND = "yolo.head_graft"
AUDIT_NAME = "head_graft_audit.jsonl"
MODEL_YAML_NAME = "head_graft.yaml"
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class HeadGraftDryRunRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    base_run_id: str
    dataset_id: str | None = None
    dataset_root: str | None = None


class HeadGraftRequest(HeadGraftDryRunRequest):
    """The reference's extra fields (workers, accelerator, devices, export_onnx) are accepted and ignored."""

    run_name: str | None = None
    epochs: int = Field(default=30, ge=1, le=10_000)
    img_size: int = Field(default=640, ge=32, le=4096)
    batch: int = Field(default=16, ge=1, le=1024)
    seed: int = 0
    patience: int = Field(default=100, ge=0)
    accept_tos: bool = False
    auto_activate: bool = True


class HeadGraftPlan(BaseModel):
    """What the preflight resolved; the job's params (and the job record's `config`)."""

    request: HeadGraftRequest
    run_id: str
    base_run_id: str
    base_weights: str
    base_variant: str | None
    base_labelmap: list[str]
    dataset_id: str
    dataset_path: str  # the dataset's folder; the job reads its annotations from there
    dataset_classes: list[str]  # its classes when planned (class_map indexes them)
    dataset_label: str
    class_map: list[int]  # dataset class id -> merged class id
    new_classes: list[str]
    overlap: list[str]  # normalised names in both labelmaps (not grafted again)
    labelmap: list[str]  # merged: base classes first, then the new ones
    offline: bool
    warnings: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class BaseRun:
    run_id: str
    weights: Path | None
    task: str
    variant: str | None
    labelmap: list[str]


@dataclass(frozen=True)
class ClassPlan:
    class_map: list[int]
    new_classes: list[str]
    overlap: list[str]


def read_base(runs: ActiveRuns, base_run_id: str) -> BaseRun:
    """The base run's weights, task, variant and labelmap; 404 `yolo_base_missing` when there is no such run."""
    path = runs.store.path(base_run_id)
    if not (path / "run.json").is_file():
        raise YoloBaseMissing(f"base run {base_run_id} not found", base_run_id=base_run_id)
    record = runs.store.read(base_run_id)
    labelmap = [str(name) for name in record.get("labelmap") or []]
    if not labelmap and (path / "labelmap.txt").is_file():
        labelmap = read_labelmap(path / "labelmap.txt")
    variant = record.get("variant")
    return BaseRun(
        run_id=base_run_id,
        weights=runs.best_weights(base_run_id),
        task=str(record.get("task") or "detect"),
        variant=str(variant) if variant else None,
        labelmap=labelmap,
    )


def base_problems(base: BaseRun) -> list[TatorError]:
    """Why this run cannot be a graft base (empty when it can); the checkpoint check is a static scan."""
    from tator.yolo.graft_checkpoint import check_checkpoint

    if base.weights is None:
        return [YoloBaseMissingBest(f"base run {base.run_id} has no best.pt", base_run_id=base.run_id)]
    problems: list[TatorError] = []
    if base.task != "detect":
        problems.append(YoloGraftDetectOnly(f"base run {base.run_id} is a {base.task} model; grafts are detect-only"))
    if not base.labelmap:
        problems.append(YoloBaseLabelmapMissing(f"base run {base.run_id} has no labelmap", base_run_id=base.run_id))
    try:
        check_checkpoint(base.weights, YoloBaseCheckpointUnsupported)
    except YoloBaseCheckpointUnsupported as exc:
        problems.append(exc)
    return problems


def plan_classes(base_labelmap: list[str], dataset_classes: tuple[str, ...] | list[str]) -> ClassPlan:
    """Map dataset classes onto the merged labelmap: known names to their base id, new names after the base."""
    known = {normalise_label(name): index for index, name in enumerate(base_labelmap)}
    class_map: list[int] = []
    new_classes: list[str] = []
    overlap: list[str] = []
    for name in dataset_classes:
        key = normalise_label(name)
        if key in known:
            class_map.append(known[key])
            if known[key] < len(base_labelmap) and key not in overlap:
                overlap.append(key)
            continue
        known[key] = len(base_labelmap) + len(new_classes)
        new_classes.append(name)
        class_map.append(known[key])
    return ClassPlan(class_map, new_classes, overlap)


def overlap_warnings(classes: ClassPlan, dataset: TrainingDataset) -> list[str]:
    warnings = []
    if classes.overlap:
        warnings.append(f"yolo_labelmap_overlap_dropped: {', '.join(classes.overlap)} already in the base labelmap")
    counts = [0] * len(dataset.annotations.classes)
    for image in dataset.annotations.images:
        for obj in image.objects:
            if 0 <= obj.class_id < len(counts):
                counts[obj.class_id] += 1
    empty = [name for name, count in zip(dataset.annotations.classes, counts, strict=True)
             if count == 0 and name in classes.new_classes]  # fmt: skip
    if empty:
        warnings.append(f"yolo_graft_class_without_boxes: {', '.join(empty)}")
    if dataset.has_polygons:
        warnings.append("yolo_graft_polygons_ignored: the graft trains boxes only")
    return warnings


def sanitised_run_id(run_name: str) -> str:
    """A run name as a run id: characters outside letters, digits and `._-` become `_` (then checked)."""
    run_id = _UNSAFE_ID_CHARS.sub("_", run_name).strip("._-")[:128]
    if not run_id:
        raise InvalidId("run_name has no usable characters (letters, digits, '.', '_' or '-')", field="run_name")
    return check_id(run_id, what="run_name")


def run_id_for(request: HeadGraftRequest, runs: ActiveRuns, jobs: JobManager) -> str:
    """The job/run id: the sanitised run_name, else a fresh uuid; 409 `yolo_run_exists` when taken."""
    if not request.run_name:
        return uuid.uuid4().hex
    run_id = sanitised_run_id(request.run_name)
    if runs.store.path(run_id).exists() or _job_exists(jobs, run_id):
        raise YoloRunExists(f"a run named {run_id} already exists", run_id=run_id)
    return run_id


def _job_exists(jobs: JobManager, job_id: str) -> bool:
    try:
        jobs.get(job_id)
    except JobNotFound:
        return False
    return True


def dry_run(request: HeadGraftDryRunRequest, *, layout: Layout, runs: ActiveRuns) -> dict[str, Any]:
    """Check a graft without queueing it; problems come back as `ok: false` with their code."""
    base = read_base(runs, request.base_run_id)
    problems = base_problems(base)
    report: dict[str, Any] = {
        "ok": False, "base_run_id": base.run_id, "base_task": base.task, "base_variant": base.variant,
        "base_label_count": len(base.labelmap), "new_label_count": 0, "overlap": [], "new_classes": [],
        "dataset_id": request.dataset_id, "yolo_ready": False, "dataset_task": None, "warnings": [],
    }  # fmt: skip
    try:
        dataset = resolve_training_dataset(layout, request.dataset_id, request.dataset_root)
    except (DatasetHasNoBoxes, DatasetNotYoloReady, LabelmapMissing) as exc:
        problems.append(exc)  # a verdict on the dataset; a missing or misnamed one still raises (404/400)
    else:
        classes = plan_classes(base.labelmap, dataset.annotations.classes)
        report |= {
            "new_label_count": len(dataset.annotations.classes), "overlap": classes.overlap,
            "new_classes": classes.new_classes, "dataset_id": dataset.ref.id,
            "yolo_ready": yolo_view(dataset.ref) is not None,
            "dataset_task": "segment" if dataset.has_polygons else "detect",
            "warnings": overlap_warnings(classes, dataset),
        }  # fmt: skip
        if base.labelmap and not classes.new_classes:
            problems.append(_overlap_error(classes))
    report["ok"] = not problems
    if problems:
        report |= {"error": problems[0].code, "message": problems[0].message}
    return report


def _overlap_error(classes: ClassPlan) -> YoloLabelmapOverlap:
    return YoloLabelmapOverlap(
        "every dataset class is already in the base labelmap: there is nothing to graft", overlap=classes.overlap
    )


def prepare(
    request: HeadGraftRequest, *, layout: Layout, runs: ActiveRuns, jobs: JobManager, offline: bool
) -> tuple[HeadGraftPlan, TrainingDataset]:
    """Every check the start needs, in order; raises the first problem. Writes nothing."""
    base = read_base(runs, request.base_run_id)
    problems = base_problems(base)
    if problems:
        raise problems[0]
    dataset = resolve_training_dataset(layout, request.dataset_id, request.dataset_root)
    classes = plan_classes(base.labelmap, dataset.annotations.classes)
    if not classes.new_classes:
        raise _overlap_error(classes)
    assert base.weights is not None  # base_problems refuses a base without weights
    plan = HeadGraftPlan(
        request=request,
        run_id=run_id_for(request, runs, jobs),
        base_run_id=base.run_id,
        base_weights=str(base.weights),
        base_variant=base.variant,
        base_labelmap=base.labelmap,
        dataset_id=dataset.ref.id,
        dataset_path=str(dataset.ref.path),
        dataset_classes=list(dataset.annotations.classes),
        dataset_label=str(dataset.ref.meta.get("label") or dataset.ref.id),
        class_map=classes.class_map,
        new_classes=classes.new_classes,
        overlap=classes.overlap,
        labelmap=[*base.labelmap, *classes.new_classes],
        offline=offline,
        warnings=overlap_warnings(classes, dataset),
    )
    return plan, dataset


def run_record(plan: HeadGraftPlan, status: str, *, created_at: float, **extra: Any) -> dict[str, Any]:
    """The run.json of a graft run (the shape of training runs, plus `head_graft`)."""
    head_graft = {
        "base_run_id": plan.base_run_id,
        "base_labelmap": plan.base_labelmap,
        "base_nc": len(plan.base_labelmap),
        "new_classes": plan.new_classes,
        "overlap_dropped": plan.overlap,
    }
    return training_run_record(
        plan.run_id,
        status,
        request=plan.request,
        dataset_id=plan.dataset_id,
        dataset_label=plan.dataset_label,
        labelmap=plan.labelmap,
        variant=plan.base_variant,
        extra={"head_graft": head_graft, "created_at": created_at, **extra},
    )


def append_audit(run_dir: Path, event: str, **fields: Any) -> None:
    """Append one JSON line to the run's head_graft_audit.jsonl (status changes and other milestones)."""
    line = json.dumps({"timestamp": time.time(), "event": event, **fields}, default=str)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / AUDIT_NAME, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")

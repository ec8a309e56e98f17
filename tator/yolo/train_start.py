"""Starting a YOLO training job: every precondition is checked before anything is queued or written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tator.datasets.training import resolve_training_dataset
from tator.errors import YoloSegRequiresPolygons, YoloTosRequired, YoloVariantUnknown
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.active_runs import ActiveRuns
from tator.storage.layout import Layout
from tator.yolo.service import VARIANTS
from tator.yolo.train import YOLO_TRAIN, YoloTrainPlan, YoloTrainRequest


def start_training(
    request: YoloTrainRequest,
    *,
    layout: Layout,
    jobs: JobManager,
    runs: ActiveRuns,
    base_models: Callable[[], dict[str, str]],
    offline: bool,
) -> JobRecord:
    """Validate, plan and queue; returns the queued job (its id is also the run id)."""
    if not request.accept_tos:
        raise YoloTosRequired("training uses Ultralytics (AGPL-3.0): set accept_tos to true to acknowledge it")
    seg_error = YoloSegRequiresPolygons if request.task == "segment" else None
    dataset = resolve_training_dataset(layout, request.dataset_id, request.dataset_root, seg_error=seg_error)
    source, notes = model_source(request, runs=runs, base_models=base_models, offline=offline)
    plan = YoloTrainPlan(
        request=request,
        dataset_id=dataset.ref.id,
        dataset_path=str(dataset.ref.path),
        dataset_label=str(dataset.ref.meta.get("label") or dataset.ref.id),
        labelmap=list(dataset.annotations.classes),
        model_source=source,
        offline=offline,
        notes=notes,
    )
    return runs.submit(jobs, YOLO_TRAIN, plan)


def model_source(
    request: YoloTrainRequest, *, runs: ActiveRuns, base_models: Callable[[], dict[str, str]], offline: bool
) -> tuple[str, list[str]]:
    """The .pt or .yaml training starts from, and notes for the job log.

    A trained run (`base_run_id`) wins; else the named variant's weights, or its yaml when training
    from scratch; else the server's base model. Weights that are not on disk cannot be downloaded
    offline, so training then starts from the same architecture's yaml, and the log says so."""
    if request.base_run_id:
        trained = runs.best_weights(request.base_run_id)
        if trained is None:
            raise runs.family.errors.best_missing(
                f"run {request.base_run_id} has no weights", run_id=request.base_run_id
            )
        return str(trained), []
    if request.variant:
        known = {v["id"] for v in VARIANTS}
        if request.variant not in known:
            raise YoloVariantUnknown(f"unknown YOLO variant {request.variant!r}", known=sorted(known))
        variant = request.variant
        if request.task == "segment" and not variant.endswith("-seg"):
            variant = f"{variant}-seg"
        weights = f"{variant}.pt"
    else:
        weights = base_models()["yolo"]
    yaml = str(Path(weights).with_suffix(".yaml"))
    if request.from_scratch:
        return (yaml if Path(yaml).is_file() or not Path(weights).is_absolute() else "yolov8n.yaml"), []
    if offline and not Path(weights).is_file():
        return yaml, [f"pretrained weights {weights} are not on disk and the server is offline: training from scratch"]
    return weights, []

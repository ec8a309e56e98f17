"""Starting an RF-DETR training job: every precondition is checked before anything is queued or written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tator.datasets.training import resolve_training_dataset
from tator.errors import RfdetrSegRequiresPolygons, RfdetrTosRequired, RfdetrVariantUnknown
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.rfdetr.loader import VARIANTS
from tator.rfdetr.train import RFDETR_TRAIN, RfdetrTrainPlan, RfdetrTrainRequest
from tator.runtime.active_runs import ActiveRuns
from tator.storage.layout import Layout


def start_training(
    request: RfdetrTrainRequest,
    *,
    layout: Layout,
    jobs: JobManager,
    runs: ActiveRuns,
    base_models: Callable[[], dict[str, str]],
    offline: bool,
) -> JobRecord:
    """Validate, plan and queue; returns the queued job (its id is also the run id)."""
    if not request.accept_tos:
        raise RfdetrTosRequired("set accept_tos to true to acknowledge the RF-DETR and weights licences")
    seg_error = RfdetrSegRequiresPolygons if request.task == "segment" else None
    dataset = resolve_training_dataset(layout, request.dataset_id, request.dataset_root, seg_error=seg_error)
    model_class, weights = plan_model(request, base_models=base_models, offline=offline)
    plan = RfdetrTrainPlan(
        request=request,
        dataset_id=dataset.ref.id,
        dataset_path=str(dataset.ref.path),
        dataset_label=str(dataset.ref.meta.get("label") or dataset.ref.id),
        labelmap=list(dataset.annotations.classes),
        model_class=model_class,
        pretrain_weights=weights,
    )
    return runs.submit(jobs, RFDETR_TRAIN, plan)


def plan_model(
    request: RfdetrTrainRequest, *, base_models: Callable[[], dict[str, str]], offline: bool
) -> tuple[str, str | None]:
    """(rfdetr class, pretrain weights): None = random, "default" = the library's downloadable weights,
    else a local checkpoint (the server's base model, e.g. the tiny zoo's). Offline, library weights
    cannot be fetched, so training starts from random weights (the job log says so)."""
    if request.variant:
        key = request.variant.strip().lower()
        if key not in VARIANTS or ("seg" in key) != (request.task == "segment"):
            known = sorted(VARIANTS)
            raise RfdetrVariantUnknown(f"unknown RF-DETR variant {request.variant!r} for {request.task}", known=known)
        return VARIANTS[key], None if (request.from_scratch or offline) else "default"
    base = base_models()["rfdetr"]
    if Path(base).is_file():
        return "RFDETRNano", None if request.from_scratch else base
    model_class = VARIANTS.get(base.lower(), "RFDETRNano")
    return model_class, None if (request.from_scratch or offline) else "default"

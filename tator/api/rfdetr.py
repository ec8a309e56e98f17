"""RF-DETR routes: variants, runs, the active model and the three predict modes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tator.api import detector_schemas as schemas
from tator.api.deps import JobsDep, LayoutDep, StateDep
from tator.api.detector_routes import add_predict_routes, add_run_routes, runs_dependency
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.api.training_routes import TRAINING_ERRORS, add_job_routes, job_view
from tator.detectors.predict import DetectorRun
from tator.errors import (
    ModelBusy,
    RegionRequired,
    RfdetrActiveMissing,
    RfdetrActiveMissingWeights,
    RfdetrBestMissing,
    RfdetrCudaDevicesUnavailable,
    RfdetrJobNotFound,
    RfdetrSegRequiresPolygons,
    RfdetrTosRequired,
    RfdetrVariantUnknown,
    TrainingOptionUnsupported,
)
from tator.rfdetr import service
from tator.rfdetr.infer import RfdetrOptions
from tator.rfdetr.train import KIND as TRAIN_KIND
from tator.rfdetr.train import RfdetrTrainRequest
from tator.rfdetr.train_start import start_training
from tator.runtime.active_runs import ActiveRuns
from tator.runtime.registry import ModelRegistry
from tator.vision.detection import Pixels, Prediction, PredictMode

router = IndexedRouter(prefix="/rfdetr", tags=["rfdetr"])
get_rfdetr_runs = runs_dependency(service.RFDETR_RUNS, "rfdetr_runs")
RfdetrRunsDep = Annotated[ActiveRuns, Depends(get_rfdetr_runs)]
add_run_routes(router, get_rfdetr_runs, service.variants)
_ERRORS = responses(RfdetrActiveMissing, RfdetrActiveMissingWeights, ModelBusy, RegionRequired, *schemas.IMAGE_ERRORS)


def _model_run(
    body: schemas.DetectorPredictRequest, registry: ModelRegistry, runs: ActiveRuns, warnings: list[str]
) -> DetectorRun:
    del body, warnings  # RF-DETR has no knob beyond the shared ones

    def run(pixels: Pixels, plan: PredictMode, conf: float, max_det: int) -> Prediction:
        return service.predict(registry, runs, pixels, plan, RfdetrOptions(conf=conf, max_det=max_det))

    return run


_BODIES = (schemas.DetectorPredictRequest, schemas.RfdetrRegionRequest, schemas.RfdetrWindowedRequest)
add_predict_routes(router, get_rfdetr_runs, "RF-DETR", _BODIES, _model_run, _ERRORS)


@router.post(
    "/train/jobs",
    responses=responses(
        RfdetrTosRequired,
        RfdetrSegRequiresPolygons,
        RfdetrVariantUnknown,
        RfdetrBestMissing,
        TrainingOptionUnsupported,
        RfdetrCudaDevicesUnavailable,
        *TRAINING_ERRORS,
    ),
)
def start_train_job(
    body: RfdetrTrainRequest, state: StateDep, layout: LayoutDep, jobs: JobsDep, runs: RfdetrRunsDep
) -> dict[str, object]:
    """Queue an RF-DETR training run (dataset staged as COCO in the run dir); activated on success."""
    record = start_training(
        body, layout=layout, jobs=jobs, runs=runs, base_models=state.base_models, offline=state.settings.offline
    )
    return job_view(record)


add_job_routes(router, "/train/jobs", TRAIN_KIND, RfdetrJobNotFound)

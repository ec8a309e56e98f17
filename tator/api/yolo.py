"""YOLO routes: variants, runs, the active model and the three predict modes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tator.api import detector_schemas as schemas
from tator.api.deps import JobsDep, LayoutDep, StateDep
from tator.api.detector_routes import add_predict_routes, add_run_routes, runs_dependency
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.api.training_routes import TRAINING_ERRORS, TRAINING_OPTION_ERRORS, add_job_routes, job_view
from tator.detectors import predict as flow
from tator.detectors.predict import DetectorRun
from tator.errors import (
    ModelBusy,
    RegionRequired,
    YoloActiveMissing,
    YoloActiveMissingWeights,
    YoloBestMissing,
    YoloJobNotFound,
    YoloSegRequiresPolygons,
    YoloTosRequired,
    YoloVariantUnknown,
)
from tator.runtime.active_runs import ActiveRuns
from tator.runtime.registry import ModelRegistry
from tator.vision.detection import Pixels, Prediction, PredictMode
from tator.yolo import service
from tator.yolo.infer import YoloOptions
from tator.yolo.train import KIND as TRAIN_KIND
from tator.yolo.train import YoloTrainRequest
from tator.yolo.train_start import start_training

router = IndexedRouter(prefix="/yolo", tags=["yolo"])
get_yolo_runs = runs_dependency(service.YOLO_RUNS, "yolo_runs")
YoloRunsDep = Annotated[ActiveRuns, Depends(get_yolo_runs)]
add_run_routes(router, get_yolo_runs, service.variants)
_ERRORS = responses(YoloActiveMissing, YoloActiveMissingWeights, ModelBusy, RegionRequired, *schemas.IMAGE_ERRORS)


def _model_run(
    body: schemas.YoloPredictRequest, registry: ModelRegistry, runs: ActiveRuns, warnings: list[str]
) -> DetectorRun:
    iou = flow.clamp(body.iou, 0.0, 1.0, "iou", warnings)

    def run(pixels: Pixels, plan: PredictMode, conf: float, max_det: int) -> Prediction:
        return service.predict(registry, runs, pixels, plan, YoloOptions(conf=conf, iou=iou, max_det=max_det))

    return run


_BODIES = (schemas.YoloPredictRequest, schemas.YoloRegionRequest, schemas.YoloWindowedRequest)
add_predict_routes(router, get_yolo_runs, "YOLO", _BODIES, _model_run, _ERRORS)


@router.post(
    "/train/jobs",
    responses=responses(
        YoloTosRequired,
        YoloSegRequiresPolygons,
        YoloVariantUnknown,
        YoloBestMissing,
        *TRAINING_ERRORS,
        *TRAINING_OPTION_ERRORS,
    ),
)
def start_train_job(
    body: YoloTrainRequest, state: StateDep, layout: LayoutDep, jobs: JobsDep, runs: YoloRunsDep
) -> dict[str, object]:
    """Queue a YOLO training run; every precondition is checked first. On success the run is activated."""
    record = start_training(
        body, layout=layout, jobs=jobs, runs=runs, base_models=state.base_models, offline=state.settings.offline
    )
    return job_view(record)


add_job_routes(router, "/train/jobs", TRAIN_KIND, YoloJobNotFound)

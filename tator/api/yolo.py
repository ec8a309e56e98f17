"""YOLO routes: variants, runs, the active model and the three predict modes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from tator.api import detector_common as common
from tator.api.deps import ImagesDep, JobsDep, LayoutDep, RegistryDep, SettingsDep, StateDep
from tator.api.detector_routes import add_run_routes, runs_dependency
from tator.api.errors import responses
from tator.api.training_routes import TRAINING_ERRORS, add_job_routes, job_view
from tator.errors import (
    ModelBusy,
    RegionRequired,
    TooManyWindows,
    YoloActiveMissing,
    YoloActiveMissingWeights,
    YoloBestMissing,
    YoloJobNotFound,
    YoloSegRequiresPolygons,
    YoloTosRequired,
    YoloVariantUnknown,
)
from tator.runtime.active_runs import ActiveRuns
from tator.vision.detection import Pixels, Prediction, PredictMode
from tator.vision.windows import DEFAULT_MAX_WINDOWS
from tator.yolo import service
from tator.yolo.infer import YoloOptions
from tator.yolo.train import KIND as TRAIN_KIND
from tator.yolo.train import YoloTrainRequest
from tator.yolo.train_start import start_training

router = APIRouter(prefix="/yolo", tags=["yolo"])
get_yolo_runs = runs_dependency(service.YOLO_RUNS, "yolo_runs")
YoloRunsDep = Annotated[ActiveRuns, Depends(get_yolo_runs)]
add_run_routes(router, get_yolo_runs, service.variants)
_ERRORS = responses(YoloActiveMissing, YoloActiveMissingWeights, ModelBusy, RegionRequired, *common.IMAGE_ERRORS)


def _predict(
    body: common.YoloPredictRequest,
    mode: PredictMode | None,
    images: ImagesDep,
    registry: RegistryDep,
    runs: ActiveRuns,
    warnings: list[str],
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> common.DetectorPredictResponse:
    iou = common.clamp(body.iou, 0.0, 1.0, "iou", warnings)

    def run(pixels: Pixels, plan: PredictMode, conf: float, max_det: int) -> Prediction:
        return service.predict(registry, runs, pixels, plan, YoloOptions(conf=conf, iou=iou, max_det=max_det))

    return common.predict_response(body, mode, images, warnings, run, max_windows=max_windows)


@router.post("/predict_full", response_model=common.DetectorPredictResponse, responses=_ERRORS)
def predict_full(
    body: common.YoloPredictRequest, images: ImagesDep, registry: RegistryDep, runs: YoloRunsDep
) -> common.DetectorPredictResponse:
    """Detect on the whole image with the active YOLO run; boxes are pixel [x, y, w, h]."""
    return _predict(body, common.full_mode(), images, registry, runs, [])


@router.post("/predict_region", response_model=common.DetectorPredictResponse, responses=_ERRORS)
def predict_region(
    body: common.YoloRegionRequest, images: ImagesDep, registry: RegistryDep, runs: YoloRunsDep
) -> common.DetectorPredictResponse:
    """Detect inside a region of the image (or on its pre-cropped pixels); boxes in full-image pixels."""
    return _predict(body, common.region_mode(body), images, registry, runs, [])


@router.post(
    "/predict_windowed", response_model=common.DetectorPredictResponse, responses=(_ERRORS | responses(TooManyWindows))
)
def predict_windowed(
    body: common.YoloWindowedRequest, images: ImagesDep, registry: RegistryDep, runs: YoloRunsDep, settings: SettingsDep
) -> common.DetectorPredictResponse:
    """Sliced inference: overlapping windows in batched passes, merged with class-wise NMS (at most
    TATOR_MAX_WINDOWS_PER_REQUEST windows, else 422 too_many_windows before any model work)."""
    return _predict(body, None, images, registry, runs, [], settings.max_windows_per_request)


@router.post(
    "/train/jobs",
    responses=responses(
        YoloTosRequired, YoloSegRequiresPolygons, YoloVariantUnknown, YoloBestMissing, *TRAINING_ERRORS
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

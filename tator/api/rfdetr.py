"""RF-DETR routes: variants, runs, the active model and the three predict modes."""

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
    RfdetrActiveMissing,
    RfdetrActiveMissingWeights,
    RfdetrBestMissing,
    RfdetrJobNotFound,
    RfdetrSegRequiresPolygons,
    RfdetrTosRequired,
    RfdetrVariantUnknown,
    TooManyWindows,
)
from tator.rfdetr import service
from tator.rfdetr.infer import RfdetrOptions
from tator.rfdetr.train import KIND as TRAIN_KIND
from tator.rfdetr.train import RfdetrTrainRequest
from tator.rfdetr.train_start import start_training
from tator.runtime.active_runs import ActiveRuns
from tator.vision.detection import Pixels, Prediction, PredictMode
from tator.vision.windows import DEFAULT_MAX_WINDOWS

router = APIRouter(prefix="/rfdetr", tags=["rfdetr"])
get_rfdetr_runs = runs_dependency(service.RFDETR_RUNS, "rfdetr_runs")
RfdetrRunsDep = Annotated[ActiveRuns, Depends(get_rfdetr_runs)]
add_run_routes(router, get_rfdetr_runs, service.variants)
_ERRORS = responses(RfdetrActiveMissing, RfdetrActiveMissingWeights, ModelBusy, RegionRequired, *common.IMAGE_ERRORS)


def _predict(
    body: common.DetectorPredictRequest,
    mode: PredictMode | None,
    images: ImagesDep,
    registry: RegistryDep,
    runs: ActiveRuns,
    warnings: list[str],
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> common.DetectorPredictResponse:
    def run(pixels: Pixels, plan: PredictMode, conf: float, max_det: int) -> Prediction:
        return service.predict(registry, runs, pixels, plan, RfdetrOptions(conf=conf, max_det=max_det))

    return common.predict_response(body, mode, images, warnings, run, max_windows=max_windows)


@router.post("/predict_full", response_model=common.DetectorPredictResponse, responses=_ERRORS)
def predict_full(
    body: common.DetectorPredictRequest, images: ImagesDep, registry: RegistryDep, runs: RfdetrRunsDep
) -> common.DetectorPredictResponse:
    """Detect on the whole image with the active RF-DETR run; boxes are pixel [x, y, w, h]."""
    return _predict(body, common.full_mode(), images, registry, runs, [])


@router.post("/predict_region", response_model=common.DetectorPredictResponse, responses=_ERRORS)
def predict_region(
    body: common.RfdetrRegionRequest, images: ImagesDep, registry: RegistryDep, runs: RfdetrRunsDep
) -> common.DetectorPredictResponse:
    """Detect inside a region of the image (or on its pre-cropped pixels); boxes in full-image pixels."""
    return _predict(body, common.region_mode(body), images, registry, runs, [])


@router.post(
    "/predict_windowed", response_model=common.DetectorPredictResponse, responses=(_ERRORS | responses(TooManyWindows))
)
def predict_windowed(
    body: common.RfdetrWindowedRequest,
    images: ImagesDep,
    registry: RegistryDep,
    runs: RfdetrRunsDep,
    settings: SettingsDep,
) -> common.DetectorPredictResponse:
    """Sliced inference: overlapping windows in batched passes, merged with class-wise NMS (at most
    TATOR_MAX_WINDOWS_PER_REQUEST windows, else 422 too_many_windows before any model work)."""
    return _predict(body, None, images, registry, runs, [], settings.max_windows_per_request)


@router.post(
    "/train/jobs",
    responses=responses(
        RfdetrTosRequired, RfdetrSegRequiresPolygons, RfdetrVariantUnknown, RfdetrBestMissing, *TRAINING_ERRORS
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

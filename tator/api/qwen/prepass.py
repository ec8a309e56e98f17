"""`POST /qwen/prepass`: the one-image prepass (detectors, SAM3 text and similarity, dedupe, classifier scores,
optional caption). The name follows the contract; the pipeline itself is deterministic (tator.prepass)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import ConfigDict, Field

from tator.api.calibration_filter import calibrated, request_calibrator
from tator.api.clip_deps import get_clip_places
from tator.api.deps import ImagesDep, LayoutDep, RegistryDep, StateDep
from tator.api.errors import responses
from tator.api.qwen.deps import QwenDep
from tator.api.rfdetr import RfdetrRunsDep
from tator.api.routing import IndexedRouter
from tator.api.yolo import YoloRunsDep
from tator.errors import (
    CalibratorInvalid,
    CalibratorNotFound,
    ClassifierNotFound,
    ClassifierPathNotAllowed,
    DatasetNotFound,
    ImagePayloadMissing,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidImage,
    InvalidRelativePath,
    ModelBusy,
    PrepassLabelmapRequired,
    PrepassNoSource,
    PrepassSourcesUnavailable,
    TooManyWindows,
)
from tator.prepass.config import PrepassConfig
from tator.prepass.resolve import ServerModels, resolve_models, vocabulary
from tator.prepass.service import PrepassResponse, prepass_image, qwen_captioner
from tator.runtime.images import ImagePayload

router = IndexedRouter(prefix="/qwen", tags=["qwen"])


class QwenPrepassRequest(PrepassConfig, ImagePayload):
    # The reference UI sends many more fields; unknown ones are accepted and reported as `ignored_field:<name>`.
    model_config = ConfigDict(extra="allow", frozen=False)

    dataset_id: str | None = Field(default=None, description="Dataset whose labelmap and glossary to use.")
    labelmap: list[str] | None = Field(
        default=None, max_length=1000, description="Class names (index = class_id); overrides the dataset's."
    )
    labelmap_glossary: str | None = Field(
        default=None, max_length=200_000, description="Glossary text (label: term, term); overrides the dataset's."
    )
    classifier_id: str | None = Field(
        default=None, description="Classifier head (.npz) path in the classifiers folder; default: the active head."
    )
    prepass_caption: bool = Field(default=False, description="Caption the image with the active Qwen model.")
    calibration_job_id: str | None = Field(
        default=None, description="Finished calibration job whose calibrator filters the candidates (cal_xxxxxxxx)."
    )
    calibrator_dir: str | None = Field(
        default=None, max_length=1024, description="Calibrator folder relative to the uploads folder, as an imported "
        "recipe names it (prepass_recipes/<id>/assets/calibrator); used when calibration_job_id is not given.",
    )  # fmt: skip

    def config(self) -> PrepassConfig:
        return PrepassConfig.model_validate(self.model_dump(include=set(PrepassConfig.model_fields)))


def get_server_models(state: StateDep, yolo_runs: YoloRunsDep, rfdetr_runs: RfdetrRunsDep) -> ServerModels:
    return ServerModels(
        yolo_runs=yolo_runs, rfdetr_runs=rfdetr_runs, selections=state.selections,
        base_models=state.base_models, clip_places=get_clip_places(state),
    )  # fmt: skip


ServerModelsDep = Annotated[ServerModels, Depends(get_server_models)]
_ERRORS = (
    PrepassNoSource, PrepassSourcesUnavailable, PrepassLabelmapRequired, DatasetNotFound, ClassifierNotFound,
    ClassifierPathNotAllowed, ImagePayloadMissing, ImageTokenNotFound, InvalidBase64, InvalidImage, ModelBusy,
    TooManyWindows, CalibratorNotFound, CalibratorInvalid, InvalidRelativePath,
)  # fmt: skip


@router.post("/prepass", response_model=PrepassResponse, responses=responses(*_ERRORS))
def qwen_prepass(
    body: QwenPrepassRequest, server: ServerModelsDep, registry: RegistryDep, images: ImagesDep, layout: LayoutDep,
    qwen: QwenDep,
) -> PrepassResponse:  # fmt: skip
    """Candidate boxes for one image from every enabled source, deduped, with provenance and a trace."""
    config = body.config()
    chosen = request_calibrator(layout, body.calibration_job_id, body.calibrator_dir)
    refs, warnings = resolve_models(server, config, body.classifier_id)
    vocab = vocabulary(layout, dataset_id=body.dataset_id, labelmap=body.labelmap, glossary=body.labelmap_glossary)
    image = images.resolve(body)
    ignored = [f"ignored_field:{name}" for name in sorted(body.model_extra or {})]
    captioner = qwen_captioner(qwen) if body.prepass_caption else None
    response = prepass_image(registry, refs, image, vocab, config, warnings=[*warnings, *ignored], captioner=captioner)
    return calibrated(response, chosen, width=image.width, height=image.height)

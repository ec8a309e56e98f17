"""The active classifier (`/clip/active_model`) and crop classification (`/predict_base64`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.api.clip_deps import ClipPlacesDep
from tator.api.deps import ImagesDep, RegistryDep, StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.clip import active
from tator.clip.predict import predict_active
from tator.errors import (
    BboxInvalid,
    ClassifierExtensionNotAllowed,
    ClassifierLoadFailed,
    ClassifierMetaRequired,
    ClassifierNotFound,
    ClassifierPathNotAllowed,
    ClassifierRequired,
    ClipLoadFailed,
    ClipModelNotAllowed,
    DimensionMismatch,
    Dinov3LoadFailed,
    EncoderModelRequired,
    ImagePayloadMissing,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidImage,
    LabelmapClassifierClassMismatch,
    LabelmapExtensionNotAllowed,
    LabelmapNotFound,
    LabelmapPathNotAllowed,
    LabelmapRequiredForClassifier,
    ModelBusy,
)
from tator.runtime.images import ImagePayload

router = IndexedRouter(tags=["clip"])


class ActiveModelRequest(BaseModel):
    """Omitting `classifier_path` keeps the current head; omitting `labelmap_path` keeps the current
    labelmap (for the same head), while `null` clears it (the head's own labelmap is then used)."""

    model_config = ConfigDict(extra="ignore")

    classifier_path: str | None = Field(
        default=None,
        description=(
            "Head to activate, relative to the classifier folder (GET /clip/classifiers); omitted: keep "
            "the current one."
        ),
    )
    labelmap_path: str | None = Field(
        default=None,
        description="Labelmap to use (GET /clip/labelmaps); omitted: keep the current one; null: the head's own.",
    )
    clip_model: str | None = Field(
        default=None, description="CLIP backbone name for heads that need one (default: the head's own)."
    )
    logit_adjustment_inference: bool | None = Field(
        default=None, description="Subtract the training class prior from the logits at inference."
    )


class ActiveModelResponse(BaseModel):
    clip_model: str | None
    encoder_type: str | None
    encoder_model: str | None
    classifier_path: str | None
    classifier_rel_path: str | None
    labelmap_path: str | None
    clip_ready: bool
    clip_error: str | None
    clip_warnings: list[str]
    encoder_ready: bool
    encoder_error: str | None
    encoder_loaded: bool
    labelmap_entries: list[str]
    classes: list[str]
    logit_adjustment_inference: bool


class PredictBase64Request(ImagePayload):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [{"image_token": "<image_token from an earlier answer>", "bbox_xyxy": [10, 20, 110, 220]}]
        },
    )

    uuid: str | None = Field(
        default=None, description="Any client id; echoed in the answer to match answers to requests."
    )
    background_guard: bool = Field(
        default=True, description="When a background class wins, answer it as background (prediction `__background__`)."
    )
    bbox_xyxy: list[float] | None = Field(
        default=None,
        description=(
            "Box to classify: pixel [x1, y1, x2, y2] (top-left, then bottom-right corner; x2 >= x1, y2 >="
            " y1). Omitted: the whole image."
        ),
    )
    image_width: int | None = Field(
        default=None,
        description="Width of the image bbox_xyxy refers to, when it differs from the image sent (boxes are scaled).",
    )
    image_height: int | None = Field(
        default=None, description="Height of the image bbox_xyxy refers to, when it differs from the image sent."
    )


class PredictBase64Response(BaseModel):
    prediction: str
    proba: float | None
    second_label: str | None
    second_proba: float | None
    margin: float | None
    background: bool
    background_label: str | None
    error: str | None
    message: str | None = None
    uuid: str | None
    image_token: str


@router.get("/clip/active_model", response_model=ActiveModelResponse)
def get_active_model(state: StateDep, registry: RegistryDep, places: ClipPlacesDep) -> dict[str, Any]:
    """The active head, labelmap and backbone, and whether they are usable (loads nothing)."""
    return active.status(state.selections, registry, places)


@router.post(
    "/clip/active_model",
    response_model=ActiveModelResponse,
    responses=responses(
        ClassifierRequired, ClassifierNotFound, ClassifierPathNotAllowed, ClassifierExtensionNotAllowed,
        ClassifierLoadFailed, ClassifierMetaRequired, ClipModelNotAllowed, ClipLoadFailed, Dinov3LoadFailed,
        EncoderModelRequired, DimensionMismatch, LabelmapNotFound, LabelmapPathNotAllowed,
        LabelmapExtensionNotAllowed, LabelmapRequiredForClassifier, LabelmapClassifierClassMismatch,
    ),
)  # fmt: skip
def set_active_model(
    body: ActiveModelRequest, state: StateDep, registry: RegistryDep, places: ClipPlacesDep
) -> dict[str, Any]:
    """Choose the active head (and labelmap / CLIP backbone); the backbone is loaded to check its size."""
    return active.activate(
        state.selections, registry, places, classifier_path=body.classifier_path,
        labelmap_path=body.labelmap_path, keep_labelmap="labelmap_path" not in body.model_fields_set,
        clip_model=body.clip_model, logit_adjustment=body.logit_adjustment_inference,
    )  # fmt: skip


@router.post(
    "/predict_base64",
    response_model=PredictBase64Response,
    responses=responses(ImagePayloadMissing, ImageTokenNotFound, InvalidBase64, InvalidImage, BboxInvalid, ModelBusy),
)
def predict_base64(
    body: PredictBase64Request, state: StateDep, registry: RegistryDep, images: ImagesDep, places: ClipPlacesDep
) -> dict[str, Any]:
    """Classify a crop (or the box `bbox_xyxy`, pixels) with the active head. Without an active head the
    answer is still 200, with `error: clip_unavailable`."""
    image = images.resolve(body)
    result = predict_active(
        state.selections, registry, places, image.pixels, bbox=body.bbox_xyxy,
        space=(body.image_width, body.image_height), background_guard=body.background_guard,
    )  # fmt: skip
    return {**result, "uuid": body.uuid, "image_token": image.token}

"""Interactive SAM prompts: `/sam_point`, `/sam_bbox`, `/sam_point_multi` and their `_auto` forms.

Prompts are pixels of the image as sent; answers are YOLO-normalised boxes and full-size masks. The
image's embedding is computed once per (image, model) and reused by every later prompt on it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from tator.api.clip_deps import ClipPlacesDep
from tator.api.deps import ImagesDep, StateDep
from tator.api.errors import responses
from tator.api.fast_json import ModelJSONResponse
from tator.api.routing import IndexedRouter
from tator.api.sam3.auto import classify_prediction
from tator.api.sam3.schemas import (
    BboxPromptRequest,
    MultiPointPromptRequest,
    PointPromptRequest,
    SamAutoResponse,
    SamBboxResponse,
    SamPromptBase,
)
from tator.errors import (
    ImagePayloadMissing,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidImage,
    ModelBusy,
    PointOutsideImage,
    PositivePointsRequired,
    PromptBboxInvalid,
    SamVariantUnknown,
)
from tator.runtime.images import DecodedImage, ImageCache
from tator.sam3.interactive import PromptFactory, interactive_spec, segment
from tator.sam3.predictor import MaskPrediction
from tator.sam3.prompts import box_prompt, multi_point_prompt, point_prompt
from tator.sam3.results import shape_mask
from tator.state import AppState

router = IndexedRouter(tags=["sam"])

IMAGE_ERRORS = (ImagePayloadMissing, ImageTokenNotFound, InvalidBase64, InvalidImage, SamVariantUnknown, ModelBusy)


def _segment(
    body: SamPromptBase, state: AppState, images: ImageCache, make_prompt: PromptFactory
) -> tuple[DecodedImage, MaskPrediction]:
    spec = interactive_spec(body.sam_variant, state.base_models(), state.selections)
    image = images.resolve(body)
    return image, segment(state.sam, state.registry, spec, image, make_prompt)


def _answer(body: SamPromptBase, image: DecodedImage, prediction: MaskPrediction) -> SamBboxResponse:
    shaped = shape_mask(prediction.mask)
    return SamBboxResponse(
        class_id="0", bbox=shaped.bbox_yolo, uuid=body.uuid, image_token=image.token, mask=shaped.mask,
        simplify_epsilon=body.simplify_epsilon, score=prediction.score,
    )  # fmt: skip


def _auto(
    body: SamPromptBase, state: AppState, places: ClipPlacesDep, image: DecodedImage, prediction: MaskPrediction
) -> dict[str, Any]:
    return classify_prediction(
        state.selections, state.registry, places, image, prediction, uuid=body.uuid,
        simplify_epsilon=body.simplify_epsilon,
    )  # fmt: skip


def _point(body: PointPromptRequest) -> PromptFactory:
    return partial(point_prompt, body.point_x, body.point_y)


def _box(body: BboxPromptRequest) -> PromptFactory:
    return partial(box_prompt, body.bbox_left, body.bbox_top, body.bbox_width, body.bbox_height)


def _multi(body: MultiPointPromptRequest) -> PromptFactory:
    return partial(multi_point_prompt, body.positive_points, body.negative_points)


@router.post("/sam_point", response_model=SamBboxResponse, responses=responses(*IMAGE_ERRORS, PointOutsideImage))
def sam_point(body: PointPromptRequest, state: StateDep, images: ImagesDep) -> ModelJSONResponse:
    """Segment the object under one click (pixels); answer its tight YOLO box and mask."""
    return ModelJSONResponse(_answer(body, *_segment(body, state, images, _point(body))))


@router.post("/sam_bbox", response_model=SamBboxResponse, responses=responses(*IMAGE_ERRORS, PromptBboxInvalid))
def sam_bbox(body: BboxPromptRequest, state: StateDep, images: ImagesDep) -> ModelJSONResponse:
    """Segment the object inside a pixel box; answer its tight YOLO box and mask."""
    return ModelJSONResponse(_answer(body, *_segment(body, state, images, _box(body))))


@router.post(
    "/sam_point_multi",
    response_model=SamBboxResponse,
    responses=responses(*IMAGE_ERRORS, PositivePointsRequired, PointOutsideImage),
)
def sam_point_multi(body: MultiPointPromptRequest, state: StateDep, images: ImagesDep) -> ModelJSONResponse:
    """Segment from positive and negative clicks (pixels); answer the tight YOLO box and mask."""
    return ModelJSONResponse(_answer(body, *_segment(body, state, images, _multi(body))))


@router.post("/sam_point_auto", response_model=SamAutoResponse, responses=responses(*IMAGE_ERRORS, PointOutsideImage))
def sam_point_auto(
    body: PointPromptRequest, state: StateDep, images: ImagesDep, places: ClipPlacesDep
) -> dict[str, Any]:
    """Segment from one click, then classify the mask's box with the active head (soft failures in `error`)."""
    return _auto(body, state, places, *_segment(body, state, images, _point(body)))


@router.post("/sam_bbox_auto", response_model=SamAutoResponse, responses=responses(*IMAGE_ERRORS, PromptBboxInvalid))
def sam_bbox_auto(body: BboxPromptRequest, state: StateDep, images: ImagesDep, places: ClipPlacesDep) -> dict[str, Any]:
    """Segment inside a box, then classify the mask's box with the active head (soft failures in `error`)."""
    return _auto(body, state, places, *_segment(body, state, images, _box(body)))


@router.post(
    "/sam_point_multi_auto",
    response_model=SamAutoResponse,
    responses=responses(*IMAGE_ERRORS, PositivePointsRequired, PointOutsideImage),
)
def sam_point_multi_auto(
    body: MultiPointPromptRequest, state: StateDep, images: ImagesDep, places: ClipPlacesDep
) -> dict[str, Any]:
    """Segment from several clicks, then classify the mask's box with the active head (soft failures in `error`)."""
    return _auto(body, state, places, *_segment(body, state, images, _multi(body)))

"""SAM3 concept prompts: `/sam3/text_prompt` (whole image or windowed), `/sam3/text_prompt_auto` and
`/sam3/visual_prompt`. Boxes come back YOLO-normalised, masks at the image's full size."""

from __future__ import annotations

from typing import Any

from tator.api.clip_deps import ClipPlacesDep
from tator.api.deps import ImagesDep, StateDep
from tator.api.errors import responses
from tator.api.fast_json import ModelJSONResponse
from tator.api.routing import IndexedRouter
from tator.api.sam3.auto import classify_detections
from tator.api.sam3.concept_schemas import (
    Sam3Detection,
    Sam3PromptResponse,
    Sam3TextAutoResponse,
    Sam3TextPromptRequest,
    Sam3VisualPromptRequest,
)
from tator.errors import (
    ImagePayloadMissing,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidBboxDims,
    InvalidBboxHeight,
    InvalidBboxLabels,
    InvalidBboxLeft,
    InvalidBboxTop,
    InvalidBboxWidth,
    InvalidImage,
    ModelBusy,
    PromptBboxInvalid,
    Sam3TextRequiresSam3,
    Sam3VisualBoxesRequired,
    Sam3VisualRequiresSam3,
    TextPromptRequired,
)
from tator.runtime.images import DecodedImage
from tator.sam3.concept import ConceptDetection
from tator.sam3.predictor import MaskPrediction
from tator.sam3.prompting import require_text, single_box, text_prompt, visual_prompt
from tator.sam3.results import yolo_box
from tator.state import AppState
from tator.vision.masks import encode_mask

router = IndexedRouter(prefix="/sam3", tags=["sam3"])

IMAGE_ERRORS = (ImagePayloadMissing, ImageTokenNotFound, InvalidBase64, InvalidImage, ModelBusy)
TEXT_OPTIONS = ("threshold", "mask_threshold", "max_results", "min_size", "windowed", "window_size",
                "window_overlap", "merge_iou")  # fmt: skip


def _respond(
    found: list[ConceptDetection], image: DecodedImage, *, label: str | None, source: str, epsilon: float | None
) -> Sam3PromptResponse:
    detections = [
        Sam3Detection(
            bbox=yolo_box(d.box, image.width, image.height),
            qwen_label=label,
            source=source,
            score=round(d.score, 5),
            mask=encode_mask(d.mask),
            simplify_epsilon=epsilon,
        )  # fmt: skip
        for d in found
    ]
    return Sam3PromptResponse(
        detections=detections, warnings=[] if detections else ["no_results"], image_token=image.token,
        masks=[d.mask for d in detections],
    )  # fmt: skip


def _text(body: Sam3TextPromptRequest, state: AppState, images: ImagesDep) -> tuple[str, DecodedImage, Any]:
    text = require_text(body.sam_variant, body.text_prompt)
    image = images.resolve(body)
    found = text_prompt(
        state.sam, state.registry, state.selections, state.base_models(), image, text=text,
        options=body.model_dump(include=set(TEXT_OPTIONS)),
    )  # fmt: skip
    return text, image, found


@router.post(
    "/text_prompt",
    response_model=Sam3PromptResponse,
    responses=responses(*IMAGE_ERRORS, TextPromptRequired, Sam3TextRequiresSam3),
)
def sam3_text_prompt(body: Sam3TextPromptRequest, state: StateDep, images: ImagesDep) -> ModelJSONResponse:
    """Find every instance of a text concept (optionally tile by tile for large images)."""
    text, image, found = _text(body, state, images)
    return ModelJSONResponse(_respond(found, image, label=text, source="sam3_text", epsilon=body.simplify_epsilon))


@router.post(
    "/text_prompt_auto",
    response_model=Sam3TextAutoResponse,
    responses=responses(*IMAGE_ERRORS, TextPromptRequired, Sam3TextRequiresSam3),
)
def sam3_text_prompt_auto(
    body: Sam3TextPromptRequest, state: StateDep, images: ImagesDep, places: ClipPlacesDep
) -> dict[str, Any]:
    """Find every instance of a text concept and classify each with the active head."""
    _, image, found = _text(body, state, images)
    pairs = [(MaskPrediction(d.mask, d.score), d.score) for d in found]
    detections, warnings = classify_detections(
        state.selections, state.registry, places, image, pairs, simplify_epsilon=body.simplify_epsilon
    )
    return {"detections": detections, "warnings": warnings, "image_token": image.token}


@router.post(
    "/visual_prompt",
    response_model=Sam3PromptResponse,
    responses=responses(
        *IMAGE_ERRORS, Sam3VisualRequiresSam3, Sam3VisualBoxesRequired, InvalidBboxDims, InvalidBboxLeft,
        InvalidBboxTop, InvalidBboxWidth, InvalidBboxHeight, InvalidBboxLabels, PromptBboxInvalid,
    ),
)  # fmt: skip
def sam3_visual_prompt(body: Sam3VisualPromptRequest, state: StateDep, images: ImagesDep) -> Sam3PromptResponse:
    """Find instances like the exemplar boxes (negatives exclude), optionally combined with text."""
    image = images.resolve(body)
    boxes = body.bboxes if body.bboxes else single_box(body.bbox_left, body.bbox_top, body.bbox_width, body.bbox_height)
    text = body.text_prompt or body.prompt
    found = visual_prompt(
        state.sam, state.registry, state.selections, state.base_models(), image, variant=body.sam_variant,
        boxes=boxes, labels=body.bbox_labels, text=text,
        options=body.model_dump(include={"threshold", "mask_threshold", "max_results", "min_size"}),
    )  # fmt: skip
    return _respond(found, image, label=text, source="sam3_visual", epsilon=body.simplify_epsilon)

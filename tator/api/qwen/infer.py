"""Qwen inference routes: grounded detection (`/qwen/infer`) and captions (`/qwen/caption*`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import ImagesDep, StateDep
from tator.api.errors import responses
from tator.api.qwen.deps import QwenDep
from tator.api.routing import IndexedRouter
from tator.errors import (
    ImagePayloadMissing,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidImage,
    ModelBusy,
    PromptOrItemsRequired,
    QwenGenerationCancelled,
    QwenLabelHintInvalid,
    QwenLoadFailed,
    QwenModelMissingCheckpoint,
    QwenModelNotFound,
    QwenTemplateInvalid,
    SamVariantUnknown,
)
from tator.qwen.caption import CaptionQuery, caption, preview
from tator.qwen.caption_prompt import CaptionSpec, check_hints
from tator.qwen.infer import InferQuery, SamRefiner, infer
from tator.runtime.images import DecodedImage, ImagePayload
from tator.sam3.interactive import interactive_spec, refine_to_boxes
from tator.state import AppState

router = IndexedRouter(prefix="/qwen", tags=["qwen"])

_IMAGE_ERRORS = (ImagePayloadMissing, ImageTokenNotFound, InvalidBase64, InvalidImage)
_MODEL_ERRORS = (QwenModelNotFound, QwenModelMissingCheckpoint, QwenLoadFailed, ModelBusy, QwenGenerationCancelled)


class QwenInferRequest(ImagePayload):
    model_config = ConfigDict(extra="forbid")
    prompt: str | None = Field(default=None, max_length=20_000, description="Free prompt, sent as is")
    item_list: str | list[str] | None = Field(
        default=None, description="Items to find (comma separated or a list), rendered into the item template"
    )
    image_type: str = Field(default="image", max_length=200, description="Fills {image_type} of the template")
    extra_context: str = Field(default="", max_length=5000, description="Fills {extra_context} of the template")
    item_template: str | None = Field(
        default=None, max_length=20_000, description="Overrides the template; must hold all three placeholders"
    )
    prompt_type: Literal["bbox", "point", "bbox_sam"] = Field(
        default="bbox", description="bbox: model boxes; point and bbox_sam: model points/boxes refined by SAM"
    )
    sam_variant: str | None = Field(
        default=None, description="SAM for point/bbox_sam: sam3 (the SAM3 tracker, default) or sam1 (classic SAM)"
    )
    image_name: str | None = Field(default=None, max_length=1000, description="Informational image name")
    max_results: int = Field(default=8, ge=1, le=50, description="Most boxes returned")
    max_new_tokens: int | None = Field(default=None, ge=1, description="Generation budget (capped by the server)")
    model_id: str | None = Field(default=None, description="A model of /qwen/models instead of the active one")


class QwenLabelHint(BaseModel):
    model_config = ConfigDict(extra="ignore")
    label: str = Field(description="Class name")
    bbox: list[float] | None = Field(default=None, description="[x1, y1, x2, y2] pixels of image_width x height")
    confidence: float | None = Field(default=None, description="Informational")
    source_id: str | None = Field(default=None, description="Informational")


class QwenCaptionRequest(ImagePayload):
    # The reference UI sends ~40 fields; the ones this server does not use are listed in `ignored_fields`.
    model_config = ConfigDict(extra="allow")
    user_prompt: str | None = Field(default=None, max_length=20_000, description="Extra instruction for the caption")
    label_hints: list[QwenLabelHint] = Field(default_factory=list, description="Known objects (labels, boxes)")
    image_width: int | None = Field(default=None, ge=1, description="Width of the frame hint boxes refer to")
    image_height: int | None = Field(default=None, ge=1, description="Height of the frame hint boxes refer to")
    include_counts: bool = Field(default=True, description="Tell the model how many of each label there are")
    include_coords: bool = Field(default=True, description="Tell the model where the hinted boxes are")
    max_boxes: int = Field(default=0, ge=0, description="Most hint boxes in the prompt (0: up to 200)")
    max_new_tokens: int | None = Field(default=None, ge=1, description="Budget per generation (capped by server)")
    model_id: str | None = Field(default=None, description="A model of /qwen/models instead of the active one")
    final_answer_only: bool = Field(default=True, description="Strip reasoning (<think>) from the answer")
    final_caption_max_sentences: int = Field(default=10, ge=0, le=100, description="Sentence limit (0: none)")
    caption_mode: Literal["full", "windowed", "hybrid"] = Field(default="full", description="hybrid = windowed")
    window_size: int = Field(default=672, ge=32, le=8192, description="Window side in pixels")
    window_overlap: float = Field(default=0.2, ge=0.0, le=0.9, description="Window overlap fraction")
    window_caption_max_sentences: int = Field(default=2, ge=1, le=20, description="Sentence limit per window")
    restrict_to_labels: bool = Field(default=True, description="Ask the model to mention only hinted labels")
    labelmap_glossary: str | None = Field(default=None, max_length=20_000, description="Label glossary text")
    temperature: float | None = Field(default=None, ge=0, le=5, description="Sampling temperature (0/None: greedy)")
    top_p: float | None = Field(default=None, gt=0, le=1, description="Nucleus sampling mass")


def _caption_query(body: QwenCaptionRequest) -> CaptionQuery:
    spec = CaptionSpec(
        user_prompt=body.user_prompt,
        hints=check_hints([(h.label, h.bbox) for h in body.label_hints]),
        include_counts=body.include_counts,
        include_coords=body.include_coords,
        max_boxes=body.max_boxes,
        restrict_to_labels=body.restrict_to_labels,
        max_sentences=body.final_caption_max_sentences,
        final_answer_only=body.final_answer_only,
        glossary=body.labelmap_glossary or "",
    )
    hint_size = (body.image_width, body.image_height) if body.image_width and body.image_height else None
    return CaptionQuery(
        spec=spec, mode="full" if body.caption_mode == "full" else "windowed", hint_size=hint_size,
        window_size=body.window_size, window_overlap=body.window_overlap,
        window_max_sentences=body.window_caption_max_sentences, max_new_tokens=body.max_new_tokens,
        model_id=body.model_id, temperature=body.temperature, top_p=body.top_p,
    )  # fmt: skip


def _sam_refiner(body: QwenInferRequest, state: AppState, image: DecodedImage) -> SamRefiner | None:
    """For point/bbox_sam: SAM turns each model point or box into the tight box of its mask (checked first, so
    an unknown variant never runs a generation)."""
    if body.prompt_type == "bbox":
        return None
    spec = interactive_spec(body.sam_variant or "sam3", state.base_models(), state.selections)
    return lambda _pil, prompts: refine_to_boxes(state.sam, state.registry, spec, image, prompts)


@router.post(
    "/infer",
    responses=responses(*_IMAGE_ERRORS, *_MODEL_ERRORS, PromptOrItemsRequired, QwenTemplateInvalid, SamVariantUnknown),
)
def qwen_infer(body: QwenInferRequest, qwen: QwenDep, state: StateDep, images: ImagesDep) -> dict[str, Any]:
    """Boxes (YOLO-normalised `bbox` plus pixel xyxy/xywh) of the prompted items; bad output is a warning."""
    image = images.resolve(body)
    query = InferQuery(
        prompt=body.prompt, item_list=body.item_list, image_type=body.image_type, extra_context=body.extra_context,
        prompt_type=body.prompt_type, max_results=body.max_results, template=body.item_template,
        max_new_tokens=body.max_new_tokens, model_id=body.model_id,
    )  # fmt: skip
    refiner = _sam_refiner(body, state, image)
    return {**infer(qwen, image.to_pil(), query, refiner=refiner), "image_token": image.token}


@router.post("/caption", responses=responses(*_IMAGE_ERRORS, *_MODEL_ERRORS, QwenLabelHintInvalid))
def qwen_caption(body: QwenCaptionRequest, qwen: QwenDep, images: ImagesDep) -> dict[str, Any]:
    """Caption the image (full, or windowed: one caption per tile merged into one); synchronous."""
    query = _caption_query(body)
    image = images.resolve(body)
    answer = caption(qwen, image.to_pil(), query)
    return {**answer, "image_token": image.token, "ignored_fields": sorted(body.model_extra or {})}


@router.post("/caption/cancel")
def cancel_caption(qwen: QwenDep, force: bool = False) -> dict[str, Any]:
    """Stop running captions at their next token (`force` is accepted; it changes nothing)."""
    stopped = qwen.runtime.cancel(ops=("caption",))
    return {"status": "cancelling", "cancelled": len(stopped), "generations": stopped, "force": force}


@router.post("/caption/preview_prompt", responses=responses(*_IMAGE_ERRORS, QwenLabelHintInvalid, QwenModelNotFound))
def caption_preview(body: QwenCaptionRequest, qwen: QwenDep, images: ImagesDep) -> dict[str, Any]:
    """The prompt(s) a caption request would send, without running the model."""
    query = _caption_query(body)
    image = images.resolve(body)
    return {**preview(qwen, (image.width, image.height), query), "image_token": image.token}

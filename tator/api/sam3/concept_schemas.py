"""Request and response shapes of the SAM3 concept routes (`/sam3/text_prompt`, `/sam3/visual_prompt`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.api.sam3.schemas import VARIANT_DESCRIPTION, SamAutoResponse
from tator.runtime.images import ImagePayload


class Sam3PromptBase(ImagePayload):
    model_config = ConfigDict(extra="ignore")

    sam_variant: str = Field(default="sam3", description=VARIANT_DESCRIPTION + " Only 'sam3' works here.")
    image_name: str | None = Field(default=None, description="Client's name of the image (informational).")
    simplify_epsilon: float | None = Field(default=None, description="Polygon simplification in pixels; echoed.")
    max_results: int | None = Field(default=None, ge=1, le=1000, description="Most detections answered (100).")
    min_size: float | None = Field(default=None, ge=0, description="Smallest mask area kept, in px^2.")


class Sam3TextPromptRequest(Sam3PromptBase):
    text_prompt: str | None = Field(default=None, description="The concept to find, e.g. 'red car' (required).")
    threshold: float = Field(default=0.5, ge=0, le=1, description="Minimum detection score (0..1).")
    mask_threshold: float = Field(default=0.5, ge=0, le=1, description="Mask probability cut-off (0..1).")
    windowed: bool = Field(default=False, description="Prompt tile by tile (for large images) and merge.")
    window_size: int | None = Field(default=None, ge=64, le=8192, description="Tile side in pixels (1008).")
    window_overlap: float | None = Field(default=None, ge=0, le=0.9, description="Tile overlap fraction (0.2).")
    merge_iou: float | None = Field(default=None, ge=0, le=1, description="Box IoU above which tiles merge (0.5).")


class Sam3VisualPromptRequest(Sam3PromptBase):
    bbox_left: float | None = Field(default=None, description="Single exemplar box: left edge, pixels.")
    bbox_top: float | None = Field(default=None, description="Single exemplar box: top edge, pixels.")
    bbox_width: float | None = Field(default=None, description="Single exemplar box: width, pixels.")
    bbox_height: float | None = Field(default=None, description="Single exemplar box: height, pixels.")
    bboxes: list[Any] | None = Field(
        default=None, description="Exemplar boxes: [[x, y, w, h], ...] or [{left, top, width, height}, ...], pixels."
    )
    bbox_labels: list[bool | int | str] | None = Field(
        default=None, description="Per box: true/1/'pos' (positive) or false/0/'neg'; missing = positive."
    )
    text_prompt: str | None = Field(default=None, description="Optional text combined with the boxes.")
    prompt: str | None = Field(default=None, description="Alias of text_prompt.")
    threshold: float = Field(default=0.55, ge=0, le=1, description="Minimum detection score (0..1).")
    mask_threshold: float = Field(default=0.2, ge=0, le=1, description="Mask probability cut-off (0..1).")


class Sam3Detection(BaseModel):
    bbox: list[float] = Field(description="YOLO-normalised [cx, cy, w, h] of the image as sent.")
    qwen_label: str | None = Field(description="The text prompt (null for box-only prompts).")
    source: str = Field(description="sam3_text or sam3_visual.")
    score: float
    mask: dict[str, Any] | None = Field(description="{'size': [H, W], 'counts': base64 packbits}.")
    simplify_epsilon: float | None
    class_id: int | None = None
    class_name: str | None = None


class Sam3PromptResponse(BaseModel):
    detections: list[Sam3Detection]
    warnings: list[str] = Field(description="['no_results'] when nothing was found.")
    image_token: str
    masks: list[dict[str, Any] | None] = Field(description="The detections' masks again, in the same order.")


class Sam3TextAutoResponse(BaseModel):
    detections: list[SamAutoResponse]
    warnings: list[str]
    image_token: str

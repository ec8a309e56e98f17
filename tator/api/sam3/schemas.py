"""Request and response shapes of the interactive SAM routes (`/sam_point`, `/sam_bbox`, `/sam_preload`, ...).

Prompt coordinates are absolute pixels of the image as sent; answer boxes are YOLO-normalised [cx, cy, w, h].
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.runtime.images import ImagePayload

VARIANT_DESCRIPTION = "Model: 'sam3' (SAM3 tracker, default) or 'sam1' (classic SAM)."


class SamPromptBase(ImagePayload):
    model_config = ConfigDict(extra="ignore")

    uuid: str | None = Field(default=None, description="Client id of the annotation; echoed back.")
    sam_variant: str = Field(default="sam3", description=VARIANT_DESCRIPTION)
    image_name: str | None = Field(default=None, description="Client's name of the image (informational).")
    simplify_epsilon: float | None = Field(default=None, description="Polygon simplification in pixels; echoed.")


class PointPromptRequest(SamPromptBase):
    point_x: float = Field(description="Click x in pixels of the image as sent (0 = left edge).")
    point_y: float = Field(description="Click y in pixels of the image as sent (0 = top edge).")


class BboxPromptRequest(SamPromptBase):
    bbox_left: float = Field(description="Box left edge in pixels.")
    bbox_top: float = Field(description="Box top edge in pixels.")
    bbox_width: float = Field(description="Box width in pixels (> 0).")
    bbox_height: float = Field(description="Box height in pixels (> 0).")
    local_refine: bool = Field(default=False, description="Accepted for compatibility; the full image is used.")


class MultiPointPromptRequest(SamPromptBase):
    positive_points: list[list[float]] = Field(
        default_factory=list, description="[[x, y], ...] pixels on the object (at least one)."
    )
    negative_points: list[list[float]] = Field(default_factory=list, description="[[x, y], ...] pixels off it.")


class SamBboxResponse(BaseModel):
    class_id: str = Field(description="Always '0' (a string, as the reference answers).")
    bbox: list[float] = Field(description="YOLO-normalised [cx, cy, w, h]; [0, 0, 0, 0] for an empty mask.")
    uuid: str | None
    image_token: str
    mask: dict[str, Any] | None = Field(description="{'size': [H, W], 'counts': base64 packbits}; null if empty.")
    simplify_epsilon: float | None
    score: float = Field(description="The model's predicted IoU of the mask.")


class SamAutoResponse(BaseModel):
    prediction: str
    proba: float | None
    second_label: str | None
    second_proba: float | None
    margin: float | None
    bbox: list[float] = Field(description="YOLO-normalised [cx, cy, w, h]; [] when the answer has an error.")
    uuid: str | None
    error: str | None = Field(description="Soft failure: clip_unavailable, empty_mask, classifier_error.")
    image_token: str
    score: float | None
    mask: dict[str, Any] | None
    simplify_epsilon: float | None


class PreloadRequest(ImagePayload):
    model_config = ConfigDict(extra="ignore")

    sam_variant: str = Field(default="sam3", description=VARIANT_DESCRIPTION)
    preload_generation: int | None = Field(
        default=None, description="Client counter; a preload older than the newest seen for its slot gets 409."
    )
    image_name: str | None = Field(default=None, description="Client's image name (required for non-current slots).")
    slot: str = Field(default="current", description="current | next | previous.")


class PreloadResponse(BaseModel):
    status: str
    width: int
    height: int
    token: str
    backend: str
    device: str
    preload_ms: float
    image_cache_hit: bool
    runtime_notice: str | None


class SlotStatus(BaseModel):
    slot: str
    image_name: str | None
    token: str | None
    variant: str | None
    width: int | None
    height: int | None
    busy: bool
    last_loaded: float | None
    enabled: bool
    memory_bytes: int
    backend: str
    device: str | None
    load_ms: float | None


class ActivateSlotRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image_name: str = Field(description="Name given when the image was preloaded.")
    sam_variant: str | None = Field(default=None, description="Only match a slot preloaded with this variant.")


class ActivateSlotResponse(BaseModel):
    status: str
    slot: str
    token: str | None


class PredictorSettingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    max_predictors: int = Field(ge=1, le=3, description="How many preload slots are enabled (1..3).")


class PredictorSettingsResponse(BaseModel):
    max_predictors: int
    min_predictors: int
    max_supported_predictors: int
    active_predictors: int
    loaded_predictors: int
    embedding_entries: int
    embedding_bytes: int
    embedding_budget_bytes: int
    image_cache_bytes: int
    device: str

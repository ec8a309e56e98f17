"""Request shapes of the YOLO and RF-DETR predict routes, and how each becomes the shared flow's input."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from tator.detectors.predict import Knobs, WindowRequest, region_mode
from tator.errors import (
    ImageBase64TooLarge,
    ImageBytesTooLarge,
    ImagePayloadMissing,
    ImagePixelsTooLarge,
    ImageRequired,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidImage,
)
from tator.runtime.images import ImagePayload
from tator.vision.detection import RegionMode

# What resolving a predict request's image can answer (besides 415 and 422, documented for every route).
IMAGE_ERRORS = (
    ImageRequired, ImagePayloadMissing, ImageTokenNotFound, InvalidBase64, InvalidImage, ImageBase64TooLarge,
    ImageBytesTooLarge, ImagePixelsTooLarge,
)  # fmt: skip


class DetectorPredictRequest(ImagePayload):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"image_base64": "<base64 of a JPEG or PNG>", "conf": 0.25}]}
    )
    conf: float = Field(
        default=0.25,
        description="Minimum detection score, 0..1 (out-of-range values are clamped, with a conf_clamped warning).",
    )
    max_det: int = Field(
        default=300, description="Most detections to return, 1..5000 (clamped, with a max_det_clamped warning)."
    )
    expected_labelmap: list[str] | None = Field(
        default=None,
        description=(
            "The client's class names in its id order: class_id in the answer follows this list when "
            "every model class matches a name (warning labelmap_remapped), else the model's own ids "
            "(warning labelmap_mismatch)."
        ),
    )

    @model_validator(mode="after")
    def _names_an_image(self) -> DetectorPredictRequest:
        # The contract: no image field at all is 422 image_required; an empty string stays 428.
        if self.image_base64 is None and self.image_token is None:
            raise PydanticCustomError(
                "image_required",
                "send image_base64 (base64 or a data URL) or image_token (from an earlier answer)",
                {"fields": ["image_base64", "image_token"]},
            )
        return self

    def knobs(self) -> Knobs:
        return Knobs(self.conf, self.max_det, self.expected_labelmap)


class YoloPredictRequest(DetectorPredictRequest):
    iou: float = Field(default=0.45, description="NMS IoU threshold, 0..1 (clamped, with an iou_clamped warning).")


class RegionFields(BaseModel):
    region: list[float] | None = Field(
        default=None,
        description="The region to detect in: pixel [x, y, w, h] (top-left corner + size) of the full image.",
    )
    center_only: bool = Field(default=True, description="Keep only detections whose centre lies inside the region.")
    image_is_cropped: bool = Field(
        default=False,
        description="The image sent is already the region's crop; boxes are mapped back to full-image pixels.",
    )
    full_width: int | None = Field(
        default=None, description="With image_is_cropped: width in pixels of the full image the crop came from."
    )
    full_height: int | None = Field(
        default=None, description="With image_is_cropped: height in pixels of the full image the crop came from."
    )

    def mode(self) -> RegionMode:
        full_size = (self.full_width, self.full_height)
        return region_mode(
            self.region, center_only=self.center_only, image_is_cropped=self.image_is_cropped, full_size=full_size
        )


class WindowFields(BaseModel):
    slice_size: int = Field(
        default=640,
        description="Window side in pixels (32..the image's longest side; clamped with slice_size_clamped).",
    )
    overlap: float = Field(
        default=0.2, description="Overlap of neighbouring windows as a fraction of slice_size, 0..0.9."
    )
    merge_iou: float = Field(
        default=0.5, description="IoU above which boxes of neighbouring windows are merged (class-wise NMS), 0..1."
    )

    def mode(self) -> WindowRequest:
        return WindowRequest(self.slice_size, self.overlap, self.merge_iou)


class YoloRegionRequest(YoloPredictRequest, RegionFields):
    pass


class YoloWindowedRequest(YoloPredictRequest, WindowFields):
    pass


class RfdetrRegionRequest(DetectorPredictRequest, RegionFields):
    pass


class RfdetrWindowedRequest(DetectorPredictRequest, WindowFields):
    pass

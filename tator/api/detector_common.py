"""Request and response shapes shared by the YOLO and RF-DETR predict routes, and their clamping rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from tator.datasets.labels import index_by_label, normalise_label
from tator.errors import (
    ImageBase64TooLarge,
    ImageBytesTooLarge,
    ImagePayloadMissing,
    ImagePixelsTooLarge,
    ImageRequired,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidImage,
    RegionRequired,
)
from tator.runtime.images import ImageCache, ImagePayload
from tator.vision.boxes import xyxy_to_xywh
from tator.vision.detection import FullMode, Pixels, Prediction, PredictMode, RegionMode, WindowedMode

MAX_DET_LIMIT = 5000
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


class YoloRegionRequest(YoloPredictRequest, RegionFields):
    pass


class YoloWindowedRequest(YoloPredictRequest, WindowFields):
    pass


class RfdetrRegionRequest(DetectorPredictRequest, RegionFields):
    pass


class RfdetrWindowedRequest(DetectorPredictRequest, WindowFields):
    pass


class DetectionOut(BaseModel):
    bbox: list[float]  # [x, y, w, h] pixels of the full image
    class_id: int
    class_name: str
    score: float


class DetectorPredictResponse(BaseModel):
    detections: list[DetectionOut]
    labelmap: list[str]
    warnings: list[str] | None  # null when there is nothing to warn about (the UI tests truthiness)
    image_token: str | None = None
    clamped: dict[str, float] | None = None  # for each `<name>_clamped` warning: the value actually used


def clamp(value: float, low: float, high: float, name: str, warnings: list[str]) -> float:
    if value < low or value > high or value != value:
        warnings.append(f"{name}_clamped")
        return low if value != value or value < low else high
    return value


def full_mode() -> FullMode:
    return FullMode()


def region_mode(body: RegionFields) -> RegionMode:
    if body.region is None or len(body.region) < 4 or body.region[2] <= 0 or body.region[3] <= 0:
        raise RegionRequired("region [x, y, w, h] with positive width and height is required")
    x, y, w, h = (float(v) for v in body.region[:4])
    full = (body.full_width, body.full_height)
    full_size = (int(full[0]), int(full[1])) if full[0] and full[1] else None
    return RegionMode((x, y, w, h), body.center_only, body.image_is_cropped, full_size)


def windowed_mode(body: WindowFields, image_size: tuple[int, int], warnings: list[str]) -> WindowedMode:
    longest = max(image_size)
    slice_size = int(clamp(body.slice_size, 32, max(32, longest), "slice_size", warnings))
    overlap = clamp(body.overlap, 0.0, 0.9, "overlap", warnings)
    merge_iou = clamp(body.merge_iou, 0.0, 1.0, "merge_iou", warnings)
    return WindowedMode(slice_size=slice_size, overlap=overlap, merge_iou=merge_iou)


def respond(
    prediction: Prediction, expected_labelmap: list[str] | None, warnings: list[str], image_token: str | None
) -> DetectorPredictResponse:
    """Shape detections as the contract wants: pixel [x, y, w, h], class ids in the client's labelmap
    when every model class can be matched to it by normalised name, else the model's ids and a warning."""
    names = prediction.names
    all_warnings = [*warnings, *prediction.warnings]
    id_map: dict[int, int] = {}
    if expected_labelmap:
        if not names:
            all_warnings.append("labelmap_missing")
        else:
            expected_index = index_by_label(expected_labelmap)
            keys = [normalise_label(n) for n in names]
            if all(k in expected_index for k in keys):
                id_map = {i: expected_index[k] for i, k in enumerate(keys)}
                if any(i != j for i, j in id_map.items()) or len(names) != len(expected_labelmap):
                    all_warnings.append("labelmap_remapped")
            else:
                all_warnings.append("labelmap_mismatch")
    found = prediction.detections
    xywh = xyxy_to_xywh(found.boxes)
    detections = [
        DetectionOut(
            bbox=[round(float(v), 2) for v in box],
            class_id=id_map.get(int(cls), int(cls)),
            class_name=names[int(cls)] if 0 <= int(cls) < len(names) else str(int(cls)),
            score=round(float(score), 5),
        )
        for box, score, cls in zip(xywh, found.scores, found.classes, strict=True)
    ]
    return DetectorPredictResponse(
        detections=detections, labelmap=names, warnings=all_warnings or None, image_token=image_token
    )


def predict_response(
    body: DetectorPredictRequest,
    mode: PredictMode | None,
    images: ImageCache,
    warnings: list[str],
    predict: Callable[[Pixels, PredictMode, float, int], Prediction],
) -> DetectorPredictResponse:
    """The flow every detector predict route shares: resolve the image, clamp conf and max_det, plan
    the windows (mode None = windowed: its plan depends on the image size), predict, shape the answer.
    `predict(pixels, mode, conf, max_det)` runs the family's model."""
    image = images.resolve(body)
    limits = clamp_common(body, warnings)
    if mode is None:
        assert isinstance(body, WindowFields)
        mode = windowed_mode(body, (image.width, image.height), warnings)
    prediction = predict(image.pixels, mode, limits["conf"], limits["max_det"])
    answer = respond(prediction, body.expected_labelmap, warnings, image.token)
    used = {**limits, **(asdict(mode) if isinstance(mode, WindowedMode) else {})}
    names = [w.removesuffix("_clamped") for w in warnings if w.endswith("_clamped")]
    answer.clamped = {name: float(used[name]) for name in names if name in used} or None
    return answer


def clamp_common(body: DetectorPredictRequest, warnings: list[str]) -> dict[str, Any]:
    """conf in 0..1 and max_det in 1..5000, with a warning for each clamped value."""
    return {
        "conf": clamp(body.conf, 0.0, 1.0, "conf", warnings),
        "max_det": int(clamp(body.max_det, 1, MAX_DET_LIMIT, "max_det", warnings)),
    }

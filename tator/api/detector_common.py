"""Request and response shapes shared by the YOLO and RF-DETR predict routes, and their clamping rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from tator.datasets.labels import index_by_label, normalise_label
from tator.errors import RegionRequired
from tator.runtime.images import ImageCache, ImagePayload
from tator.vision.boxes import xyxy_to_xywh
from tator.vision.detection import FullMode, Pixels, Prediction, PredictMode, RegionMode, WindowedMode
from tator.vision.windows import DEFAULT_MAX_WINDOWS

MAX_DET_LIMIT = 5000


class DetectorPredictRequest(ImagePayload):
    model_config = ConfigDict(extra="ignore")
    conf: float = 0.25
    max_det: int = 300
    expected_labelmap: list[str] | None = None


class YoloPredictRequest(DetectorPredictRequest):
    iou: float = 0.45


class RegionFields(BaseModel):
    region: list[float] | None = None
    center_only: bool = True
    image_is_cropped: bool = False
    full_width: int | None = None
    full_height: int | None = None


class WindowFields(BaseModel):
    slice_size: int = 640
    overlap: float = 0.2
    merge_iou: float = 0.5


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


def windowed_mode(
    body: WindowFields, image_size: tuple[int, int], warnings: list[str], max_windows: int = DEFAULT_MAX_WINDOWS
) -> WindowedMode:
    longest = max(image_size)
    slice_size = int(clamp(body.slice_size, 32, max(32, longest), "slice_size", warnings))
    overlap = clamp(body.overlap, 0.0, 0.9, "overlap", warnings)
    merge_iou = clamp(body.merge_iou, 0.0, 1.0, "merge_iou", warnings)
    mode = WindowedMode(slice_size=slice_size, overlap=overlap, merge_iou=merge_iou, max_windows=max_windows)
    mode.check(*image_size)
    return mode


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
    *,
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> DetectorPredictResponse:
    """The flow every detector predict route shares: resolve the image, clamp conf and max_det, plan
    the windows (mode None = windowed: its plan depends on the image size), predict, shape the answer.
    `predict(pixels, mode, conf, max_det)` runs the family's model."""
    image = images.resolve(body)
    limits = clamp_common(body, warnings)
    if mode is None:
        assert isinstance(body, WindowFields)
        mode = windowed_mode(body, (image.width, image.height), warnings, max_windows)
    prediction = predict(image.pixels, mode, limits["conf"], limits["max_det"])
    return respond(prediction, body.expected_labelmap, warnings, image.token)


def clamp_common(body: DetectorPredictRequest, warnings: list[str]) -> dict[str, Any]:
    """conf in 0..1 and max_det in 1..5000, with a warning for each clamped value."""
    return {
        "conf": clamp(body.conf, 0.0, 1.0, "conf", warnings),
        "max_det": int(clamp(body.max_det, 1, MAX_DET_LIMIT, "max_det", warnings)),
    }

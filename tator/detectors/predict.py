"""The predict flow every detector family shares: resolve the image, clamp the knobs, plan the mode,
run the family's model, match the client's labelmap and shape the contract's answer.

Families only supply `run(pixels, mode, conf, max_det) -> Prediction` (their model call). Boxes come back
as pixel [x, y, w, h] of the full image; class ids are the client's when its labelmap matches by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from pydantic import BaseModel

from tator.datasets.labels import index_by_label, normalise_label
from tator.errors import RegionRequired
from tator.runtime.images import ImageCache, ImagePayload
from tator.vision.boxes import xyxy_to_xywh
from tator.vision.detection import FullMode, Pixels, Prediction, PredictMode, RegionMode, WindowedMode
from tator.vision.windows import DEFAULT_MAX_WINDOWS

MAX_DET_LIMIT = 5000
DetectorRun = Callable[[Pixels, PredictMode, float, int], Prediction]


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


@dataclass(frozen=True)
class WindowRequest:
    """Windowed inference as asked for; the plan is fixed once the image size is known."""

    slice_size: int
    overlap: float
    merge_iou: float


@dataclass(frozen=True)
class Knobs:
    """The knobs every family takes, as sent (clamped by the flow, each clamp a warning)."""

    conf: float
    max_det: int
    expected_labelmap: list[str] | None = None


def clamp(value: float, low: float, high: float, name: str, warnings: list[str]) -> float:
    """`value` within [low, high]; a NaN or an out-of-range value adds the warning `<name>_clamped`."""
    if value < low or value > high or value != value:
        warnings.append(f"{name}_clamped")
        return low if value != value or value < low else high
    return value


def region_mode(
    region: Sequence[float] | None,
    *,
    center_only: bool,
    image_is_cropped: bool,
    full_size: tuple[int | None, int | None],
) -> RegionMode:
    """A region ([x, y, w, h] pixels of the full image) to detect in; 400 `region_required` without one."""
    if region is None or len(region) < 4 or region[2] <= 0 or region[3] <= 0:
        raise RegionRequired("region [x, y, w, h] with positive width and height is required")
    x, y, w, h = (float(v) for v in region[:4])
    width, height = full_size
    known = (int(width), int(height)) if width and height else None
    return RegionMode((x, y, w, h), center_only, image_is_cropped, known)


def windowed_mode(
    asked: WindowRequest, image_size: tuple[int, int], warnings: list[str], max_windows: int = DEFAULT_MAX_WINDOWS
) -> WindowedMode:
    """Slice size within 32..the image's longest side, overlap 0..0.9, merge IoU 0..1; more than
    `max_windows` tiles is 422 `too_many_windows` before any model work."""
    longest = max(image_size)
    slice_size = int(clamp(asked.slice_size, 32, max(32, longest), "slice_size", warnings))
    overlap = clamp(asked.overlap, 0.0, 0.9, "overlap", warnings)
    merge_iou = clamp(asked.merge_iou, 0.0, 1.0, "merge_iou", warnings)
    mode = WindowedMode(slice_size=slice_size, overlap=overlap, merge_iou=merge_iou, max_windows=max_windows)
    mode.check(*image_size)
    return mode


def match_labelmap(names: Sequence[str], expected: Sequence[str] | None) -> tuple[dict[int, int], list[str]]:
    """Model class id -> the client's class id when every model class matches a client name (normalised),
    with `labelmap_remapped` when ids move; else no mapping and `labelmap_mismatch` / `labelmap_missing`."""
    if not expected:
        return {}, []
    if not names:
        return {}, ["labelmap_missing"]
    expected_index = index_by_label(expected)
    keys = [normalise_label(n) for n in names]
    if not all(k in expected_index for k in keys):
        return {}, ["labelmap_mismatch"]
    id_map = {i: expected_index[k] for i, k in enumerate(keys)}
    moved = any(i != j for i, j in id_map.items()) or len(names) != len(expected)
    return id_map, ["labelmap_remapped"] if moved else []


def respond(
    prediction: Prediction, expected_labelmap: list[str] | None, warnings: list[str], image_token: str | None
) -> DetectorPredictResponse:
    """Shape detections as the contract wants: pixel [x, y, w, h], class ids in the client's labelmap
    when every model class can be matched to it by normalised name, else the model's ids and a warning."""
    names = prediction.names
    id_map, label_warnings = match_labelmap(names, expected_labelmap)
    all_warnings = [*warnings, *prediction.warnings, *label_warnings]
    found = prediction.detections
    detections = [
        DetectionOut(
            bbox=[round(float(v), 2) for v in box],
            class_id=id_map.get(int(cls), int(cls)),
            class_name=names[int(cls)] if 0 <= int(cls) < len(names) else str(int(cls)),
            score=round(float(score), 5),
        )
        for box, score, cls in zip(xyxy_to_xywh(found.boxes), found.scores, found.classes, strict=True)
    ]
    return DetectorPredictResponse(
        detections=detections, labelmap=names, warnings=all_warnings or None, image_token=image_token
    )


def predict(
    images: ImageCache,
    payload: ImagePayload,
    mode: PredictMode | WindowRequest,
    knobs: Knobs,
    run: DetectorRun,
    warnings: list[str],
    *,
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> DetectorPredictResponse:
    """Resolve the image, clamp conf (0..1) and max_det (1..5000), plan the windows (their plan depends
    on the image size), run the family's model and shape the answer. Clamps add to `warnings`, and the
    answer's `clamped` carries each clamped value actually used."""
    image = images.resolve(payload)
    conf = clamp(knobs.conf, 0.0, 1.0, "conf", warnings)
    max_det = int(clamp(knobs.max_det, 1, MAX_DET_LIMIT, "max_det", warnings))
    if isinstance(mode, WindowRequest):
        mode = windowed_mode(mode, (image.width, image.height), warnings, max_windows)
    prediction = run(image.pixels, mode, conf, max_det)
    answer = respond(prediction, knobs.expected_labelmap, warnings, image.token)
    used = {"conf": conf, "max_det": max_det, **(asdict(mode) if isinstance(mode, WindowedMode) else {})}
    names = [w.removesuffix("_clamped") for w in warnings if w.endswith("_clamped")]
    answer.clamped = {name: float(used[name]) for name in names if name in used} or None
    return answer


def full_mode() -> FullMode:
    return FullMode()

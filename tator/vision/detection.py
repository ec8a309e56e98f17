"""Detector-agnostic predict modes: full image, a region, and windowed (sliced) inference.

A detector is any callable that takes a list of RGB images and returns one `Detections` per image in
that image's pixel xyxy; YOLO and RF-DETR each provide one. Everything here is in pixels of the image
exactly as the client sent it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tator.vision.boxes import FloatArray, clip_xyxy
from tator.vision.windows import DEFAULT_MAX_WINDOWS, TileDetections, check_window_budget, merge_tiles, slice_plan

Pixels = npt.NDArray[np.uint8]


@dataclass
class Detections:
    boxes: FloatArray  # N x 4, pixel xyxy
    scores: FloatArray  # N
    classes: npt.NDArray[np.int64]  # N

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, mask: npt.NDArray[np.bool_] | npt.NDArray[np.int64]) -> Detections:
        return Detections(self.boxes[mask], self.scores[mask], self.classes[mask])


BatchDetector = Callable[[list[Pixels]], list[Detections]]


@dataclass
class RegionResult:
    detections: Detections
    warnings: list[str] = field(default_factory=list)


def predict_full(detect: BatchDetector, pixels: Pixels) -> Detections:
    """Detect on the whole image."""
    return detect([pixels])[0]


def predict_region(
    detect: BatchDetector,
    pixels: Pixels,
    region_xywh: tuple[float, float, float, float],
    *,
    center_only: bool = True,
    image_is_cropped: bool = False,
    full_size: tuple[int, int] | None = None,
) -> RegionResult:
    """Detect inside `region` ([x, y, w, h] pixels of the full image) and return boxes in full-image pixels.

    With `image_is_cropped`, `pixels` already is the region's crop. With `center_only`, only boxes whose
    centre lies inside the region are kept.
    """
    warnings: list[str] = []
    x, y, w, h = region_xywh
    if image_is_cropped:
        crop = pixels
        if full_size is None:
            warnings.append("full_size_missing")
        if abs(crop.shape[1] - w) > 1 or abs(crop.shape[0] - h) > 1:
            warnings.append("region_crop_mismatch")
        full_w, full_h = full_size or (int(x + crop.shape[1]), int(y + crop.shape[0]))
    else:
        full_h, full_w = pixels.shape[:2]
        x1, y1 = int(max(0, np.floor(x))), int(max(0, np.floor(y)))
        x2, y2 = int(min(full_w, np.ceil(x + w))), int(min(full_h, np.ceil(y + h)))
        if x2 - x1 < 1 or y2 - y1 < 1:
            return RegionResult(Detections.empty(), ["region_outside_image"])
        if (x1, y1, x2, y2) != (x, y, x + w, y + h):
            warnings.append("region_clamped")
        crop = pixels[y1:y2, x1:x2]
        x, y = float(x1), float(y1)
    found = detect([np.ascontiguousarray(crop)])[0]
    shifted = Detections(found.boxes + np.array([x, y, x, y], np.float32), found.scores, found.classes)
    if center_only and len(shifted):
        cx = (shifted.boxes[:, 0] + shifted.boxes[:, 2]) / 2
        cy = (shifted.boxes[:, 1] + shifted.boxes[:, 3]) / 2
        inside = (cx >= x) & (cx <= x + crop.shape[1]) & (cy >= y) & (cy <= y + crop.shape[0])
        shifted = shifted.select(inside)
    shifted.boxes = clip_xyxy(shifted.boxes, full_w, full_h)
    return RegionResult(shifted, warnings)


def predict_windowed(
    detect: BatchDetector,
    pixels: Pixels,
    *,
    slice_size: int,
    overlap: float,
    merge_iou: float,
    batch_size: int = 8,
    max_windows: int = DEFAULT_MAX_WINDOWS,
) -> Detections:
    """Slice the image into overlapping tiles, detect on them in batches, merge with class-wise NMS."""
    height, width = pixels.shape[:2]
    plan = slice_plan(width, height, slice_size=slice_size, overlap=overlap, max_windows=max_windows)
    tiles: list[TileDetections] = []
    for start in range(0, len(plan), batch_size):
        windows = plan[start : start + batch_size]
        crops = [np.ascontiguousarray(pixels[w.y1 : w.y2, w.x1 : w.x2]) for w in windows]
        for window, found in zip(windows, detect(crops), strict=True):
            tiles.append(TileDetections(window, found.boxes, found.scores, found.classes))
    boxes, scores, classes = merge_tiles(tiles, iou=merge_iou)
    return Detections(boxes, scores, classes)


@dataclass(frozen=True)
class FullMode:
    pass


@dataclass(frozen=True)
class RegionMode:
    region_xywh: tuple[float, float, float, float]
    center_only: bool = True
    image_is_cropped: bool = False
    full_size: tuple[int, int] | None = None


@dataclass(frozen=True)
class WindowedMode:
    slice_size: int = 640
    overlap: float = 0.2
    merge_iou: float = 0.5
    batch_size: int = 8
    max_windows: int = DEFAULT_MAX_WINDOWS

    def check(self, width: int, height: int) -> int:
        """The tile count for a `width` x `height` image; 422 `too_many_windows` over the bound (no model work)."""
        return check_window_budget(
            width, height, slice_size=self.slice_size, overlap=self.overlap, max_windows=self.max_windows
        )


PredictMode = FullMode | RegionMode | WindowedMode


def run_mode(detect: BatchDetector, pixels: Pixels, mode: PredictMode) -> RegionResult:
    """Dispatch one predict mode; every result is in full-image pixel xyxy."""
    if isinstance(mode, RegionMode):
        return predict_region(
            detect,
            pixels,
            mode.region_xywh,
            center_only=mode.center_only,
            image_is_cropped=mode.image_is_cropped,
            full_size=mode.full_size,
        )
    if isinstance(mode, WindowedMode):
        found = predict_windowed(
            detect,
            pixels,
            slice_size=mode.slice_size,
            overlap=mode.overlap,
            merge_iou=mode.merge_iou,
            batch_size=mode.batch_size,
            max_windows=mode.max_windows,
        )
        return RegionResult(found)
    return RegionResult(predict_full(detect, pixels))


@dataclass
class Prediction:
    """A predict call's answer: detections in full-image pixels, the model's class names, warnings."""

    detections: Detections
    names: list[str]
    warnings: list[str]

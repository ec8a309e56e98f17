"""Model-space coordinates to pixels of the image as sent, by model family.

- Qwen3-VL writes boxes and points on a 0..1000 grid relative to the image it saw (`bbox_space` "grid_1000").
- Qwen2.5-VL writes absolute pixels of its *resized* input (the processor's smart resize to a multiple of
  patch x merge size; `bbox_space` "resized_px"), so they are scaled by image size / resized size.
Both are mapped into the pixel frame of the image (or window) given to the model, then offset by the
window's origin so the result is in pixels of the full image as sent. Output boxes are xyxy pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tator.qwen.parse import RawDetection

GRID = 1000.0
QWEN3_FAMILIES = ("qwen3_vl", "qwen3_vl_moe")
QWEN25_FAMILIES = ("qwen2_5_vl", "qwen2_vl")


def bbox_space(family: str) -> str:
    """The convention a family answers in: `grid_1000` (Qwen3-VL) or `resized_px` (Qwen2.5-VL, Qwen2-VL)."""
    return "resized_px" if family in QWEN25_FAMILIES else "grid_1000"


@dataclass(frozen=True)
class Frame:
    """What the model saw: a region of the full image (`origin`, `size` in pixels) resized to `model_size`."""

    family: str
    size: tuple[int, int]  # width, height of the region given to the model (pixels of the image as sent)
    model_size: tuple[int, int]  # width, height after the processor's resize
    origin: tuple[int, int] = (0, 0)

    def scale(self) -> tuple[float, float]:
        """Multipliers from model units to region pixels."""
        width, height = self.size
        if bbox_space(self.family) == "grid_1000":
            return width / GRID, height / GRID
        return width / max(1, self.model_size[0]), height / max(1, self.model_size[1])

    def to_pixels(self, x: float, y: float) -> tuple[float, float]:
        sx, sy = self.scale()
        return self.origin[0] + x * sx, self.origin[1] + y * sy

    def to_model(self, x: float, y: float) -> tuple[float, float]:
        """Pixels of the full image -> model units (the inverse of `to_pixels`), e.g. for label hints."""
        sx, sy = self.scale()
        return (x - self.origin[0]) / sx, (y - self.origin[1]) / sy


def map_box(frame: Frame, box: tuple[float, float, float, float], image_size: tuple[int, int]) -> list[float] | None:
    """A model-space box as xyxy pixels of the full image, reordered and clipped; None when it is empty."""
    x1, y1 = frame.to_pixels(min(box[0], box[2]), min(box[1], box[3]))
    x2, y2 = frame.to_pixels(max(box[0], box[2]), max(box[1], box[3]))
    width, height = image_size
    x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
    y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        return None
    return [x1, y1, x2, y2]


def map_point(frame: Frame, point: tuple[float, float], image_size: tuple[int, int]) -> list[float] | None:
    x, y = frame.to_pixels(*point)
    if not (0.0 <= x <= image_size[0] and 0.0 <= y <= image_size[1]):
        return None
    return [x, y]


def yolo_box(xyxy: list[float], image_size: tuple[int, int]) -> list[float]:
    """xyxy pixels -> YOLO-normalised `[cx, cy, w, h]` in 0..1."""
    width, height = image_size
    x1, y1, x2, y2 = xyxy
    return [(x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height]


def to_detections(
    raw: list[RawDetection], frame: Frame, image_size: tuple[int, int], *, source: str
) -> tuple[list[dict[str, Any]], int]:
    """Wire detections for the boxes of `raw` (points are ignored here), and how many were dropped as
    empty or outside the image."""
    out: list[dict[str, Any]] = []
    dropped = 0
    for det in raw:
        if det.box is None:
            continue
        xyxy = map_box(frame, det.box, image_size)
        if xyxy is None:
            dropped += 1
            continue
        out.append(detection_dict(det, xyxy, frame, image_size, source=source))
    return out, dropped


def detection_dict(
    det: RawDetection, xyxy: list[float], frame: Frame, image_size: tuple[int, int], *, source: str
) -> dict[str, Any]:
    """One detection in every convention the contract names (§1.3)."""
    x1, y1, x2, y2 = xyxy
    return {
        "bbox": yolo_box(xyxy, image_size),
        "bbox_xyxy_px": xyxy,
        "bbox_xywh_px": [x1, y1, x2 - x1, y2 - y1],
        "bbox_2d": list(det.box) if det.box else None,
        "bbox_space": bbox_space(frame.family),
        "point": list(det.point) if det.point else None,
        "qwen_label": det.label,
        "class_name": det.label,
        "score": det.score,
        "source": source,
    }

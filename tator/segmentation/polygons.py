"""The contour step of the segmentation build: one SAM mask -> one YOLO-seg polygon, or the reason it is not.

Polygons are flat pixel `(x1, y1, x2, y2, ...)` tuples (see `tator.annotations`) whose vertices are pixel
indices of the mask's outer boundary, so filling them the way PIL or OpenCV rasterise (boundary included)
gives the mask back. Unlike the reference (convex hull of every mask pixel, then a fixed 30 px
Douglas-Peucker), concavities are kept and the simplification is relative to the object: epsilon is a
fraction of the contour's perimeter, capped at `max_epsilon` pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tator.annotations import BBox
from tator.vision.masks import BoolMask

Components = Literal["largest", "all"]
Polygon = tuple[float, ...]
# Why a box kept its rectangle instead of a traced polygon (counted in the job result).
FALLBACK_REASONS: tuple[str, ...] = ("low_score", "empty_mask", "small_mask", "degenerate", "tiny_box")


@dataclass(frozen=True)
class TraceOptions:
    components: Components = "largest"
    simplify_ratio: float = 0.005  # epsilon = ratio x contour perimeter ...
    max_epsilon: float = 30.0  # ... but never more than this many pixels
    min_area: float = 0.0  # px^2: a mask (inside the box) smaller than this falls back to the box
    clip_to_box: bool = True  # the box is ground truth: mask pixels outside it are not this object


@dataclass(frozen=True)
class Traced:
    polygon: Polygon | None
    reason: str | None  # one of FALLBACK_REASONS when polygon is None


def box_polygon(box: BBox) -> Polygon:
    """The box's rectangle as a polygon (clockwise from the top-left corner)."""
    return (box.x1, box.y1, box.x2, box.y1, box.x2, box.y2, box.x1, box.y2)


def _window(box: BBox, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel window (x0, y0, x1, y1, end exclusive) of every pixel `box` touches, edges included
    (a shape filled up to x2 paints pixel column x2), inside the image."""
    x0, y0 = max(0, math.floor(box.x1)), max(0, math.floor(box.y1))
    x1, y1 = min(width, math.floor(box.x2) + 1), min(height, math.floor(box.y2) + 1)
    return x0, y0, max(x0, x1), max(y0, y1)


def _simplify(contour: Any, options: TraceOptions) -> Any:
    import cv2

    epsilon = min(options.simplify_ratio * cv2.arcLength(contour, True), options.max_epsilon)
    approx = cv2.approxPolyDP(contour, epsilon, True) if epsilon > 0 else contour
    return approx if len(approx) >= 3 else contour


def bridge(rings: list[np.ndarray]) -> np.ndarray:
    """Join rings (N x 2 point arrays, largest first) into one ring: each next ring is entered and left
    through a zero-width cut at the closest pair of points (YOLO-seg has one polygon per object)."""
    merged = rings[0]
    for ring in rings[1:]:
        distances = ((merged[:, None, :] - ring[None, :, :]) ** 2).sum(axis=2)
        i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
        entered = np.concatenate([ring[j:], ring[: j + 1]])
        merged = np.concatenate([merged[: i + 1], entered, merged[i:]])
    return merged


def trace_polygon(mask: BoolMask, box: BBox, options: TraceOptions = TraceOptions()) -> Traced:
    """The polygon of the object `box` holds, traced from `mask` (H x W bool, the full image)."""
    import cv2

    height, width = mask.shape[:2]
    x0, y0, x1, y1 = _window(box, width, height) if options.clip_to_box else (0, 0, width, height)
    window = np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=np.uint8)
    area = int(window.sum())
    if area == 0:
        return Traced(None, "empty_mask")
    if area < options.min_area:
        return Traced(None, "small_mask")
    contours, _ = cv2.findContours(window, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    ranked = sorted(contours, key=lambda c: (cv2.contourArea(c), len(c)), reverse=True)
    chosen = ranked[:1] if options.components == "largest" else ranked
    rings = [_simplify(c, options).reshape(-1, 2) for c in chosen if len(c) >= 3]
    if not rings:
        return Traced(None, "degenerate")
    points = bridge(rings).astype(np.float64) + (x0, y0)
    if abs(cv2.contourArea(points.astype(np.float32))) <= 0:
        return Traced(None, "degenerate")
    return Traced(tuple(float(v) for v in points.reshape(-1)), None)

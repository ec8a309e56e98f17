"""Binary masks: the contract's wire encoding, tight boxes and polygons.

Wire encoding (not COCO RLE despite the key name): `{"size": [H, W], "counts": base64(numpy.packbits(mask
flattened row-major))}`. A mask whose packed bytes exceed `max_bytes` is not encoded (None).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from tator.annotations import BBox

BoolMask = npt.NDArray[np.bool_]
MASK_ENCODE_MAX_BYTES = 64 * 1024 * 1024


def encode_mask(mask: BoolMask, *, max_bytes: int = MASK_ENCODE_MAX_BYTES) -> dict[str, Any] | None:
    """H x W boolean mask -> `{"size": [H, W], "counts": <base64 packbits>}`, or None when too large."""
    flat = np.ascontiguousarray(mask, dtype=bool).reshape(-1)
    if (flat.size + 7) // 8 > max_bytes:
        return None
    packed = np.packbits(flat)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": base64.b64encode(packed.tobytes()).decode()}


def decode_mask(encoded: dict[str, Any]) -> BoolMask:
    """Inverse of `encode_mask`; raises ValueError on a malformed payload."""
    size = encoded.get("size")
    if not isinstance(size, list | tuple) or len(size) != 2:
        raise ValueError("mask size must be [H, W]")
    height, width = int(size[0]), int(size[1])
    try:
        packed = np.frombuffer(base64.b64decode(str(encoded.get("counts", "")), validate=True), dtype=np.uint8)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"mask counts are not base64: {exc}") from exc
    if packed.size != (height * width + 7) // 8:
        raise ValueError("mask counts do not match its size")
    return np.unpackbits(packed, count=height * width).astype(bool).reshape(height, width)


def mask_box(mask: BoolMask) -> BBox | None:
    """Tight pixel xyxy box around the mask's pixels (x2/y2 exclusive), or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return BBox(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def mask_polygons(mask: BoolMask, *, epsilon: float = 0.0, min_area: float = 0.0) -> list[list[float]]:
    """Outer contours as flat pixel `[x1, y1, x2, y2, ...]` lists, simplified by Douglas-Peucker with
    `epsilon` pixels (0 keeps every contour point); contours under `min_area` px^2 are dropped."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons: list[list[float]] = []
    for contour in contours:
        if cv2.contourArea(contour) < min_area:
            continue
        points = cv2.approxPolyDP(contour, float(epsilon), True) if epsilon > 0 else contour
        if len(points) >= 3:
            polygons.append([float(v) for v in points.reshape(-1)])
    return polygons


def polygon_mask(points: Sequence[float], width: int, height: int) -> BoolMask:
    """H x W mask of a flat pixel polygon `[x1, y1, x2, y2, ...]`, filled the way PIL draws it (boundary
    pixels included), which is how the synthetic shapes are painted."""
    from PIL import Image, ImageDraw

    canvas = Image.new("L", (width, height), 0)
    pairs = [(float(points[i]), float(points[i + 1])) for i in range(0, len(points) - 1, 2)]
    if len(pairs) >= 2:
        ImageDraw.Draw(canvas).polygon(pairs, fill=255)
    return np.asarray(canvas, dtype=np.uint8) > 0


def mask_iou(a: BoolMask, b: BoolMask) -> float:
    """Intersection over union of two same-size masks (1.0 when both are empty)."""
    union = int(np.logical_or(a, b).sum())
    return float(np.logical_and(a, b).sum()) / union if union else 1.0

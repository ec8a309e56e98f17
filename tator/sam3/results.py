"""Masks and boxes in the contract's wire conventions: YOLO-normalised `[cx, cy, w, h]` of the image as sent,
and masks as `{"size": [H, W], "counts": base64 packbits}` (see `tator.vision.masks`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tator.annotations import BBox
from tator.vision.boxes import clip_xyxy, xyxy_to_yolo
from tator.vision.masks import BoolMask, encode_mask, mask_box


@dataclass(frozen=True)
class ShapedMask:
    box: BBox | None  # tight pixel xyxy around the mask; None for an empty mask
    bbox_yolo: list[float]  # [cx, cy, w, h] in 0..1; [0, 0, 0, 0] for an empty mask
    mask: dict[str, Any] | None  # wire encoding; None for an empty or too large mask


def yolo_box(box: BBox, width: int, height: int) -> list[float]:
    """Pixel xyxy (clipped to the image) -> YOLO-normalised [cx, cy, w, h], rounded to 6 places."""
    clipped = clip_xyxy(np.asarray([box], dtype=np.float32), width, height)
    return [round(float(v), 6) for v in xyxy_to_yolo(clipped, width, height)[0]]


def shape_mask(mask: BoolMask) -> ShapedMask:
    """The tight box and wire encoding of a full-image mask (H x W)."""
    height, width = int(mask.shape[0]), int(mask.shape[1])
    box = mask_box(mask)
    if box is None:
        return ShapedMask(None, [0.0, 0.0, 0.0, 0.0], None)
    return ShapedMask(box, yolo_box(box, width, height), encode_mask(mask))

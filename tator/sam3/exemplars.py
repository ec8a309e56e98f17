"""Exemplar boxes of `/sam3/visual_prompt`: the accepted spellings, checked and clipped to the image.

A box is `[x, y, w, h]` or an object with `left/top/width/height` (or `x/y/w/h`), in pixels. Labels are
booleans, 0/1 or "pos"/"neg" (missing labels count as positive).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tator.annotations import BBox
from tator.errors import (
    InvalidBboxDims,
    InvalidBboxHeight,
    InvalidBboxLabels,
    InvalidBboxLeft,
    InvalidBboxTop,
    InvalidBboxWidth,
    Sam3VisualBoxesRequired,
    TatorError,
)
from tator.sam3.prompts import box_from_xywh

MAX_EXEMPLARS = 64
_FIELDS: tuple[tuple[str, str, type[TatorError]], ...] = (
    ("left", "x", InvalidBboxLeft),
    ("top", "y", InvalidBboxTop),
    ("width", "w", InvalidBboxWidth),
    ("height", "h", InvalidBboxHeight),
)
_POSITIVE = {"pos", "positive", "true", "1", "yes"}
_NEGATIVE = {"neg", "negative", "false", "0", "no"}


def _number(value: Any, error: type[TatorError], name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise error(f"bbox {name} must be a finite number of pixels", value=str(value)[:32])
    return number


def parse_box(raw: Any) -> tuple[float, float, float, float]:
    """One box in any accepted spelling -> (left, top, width, height) pixels; width and height > 0."""
    if isinstance(raw, Mapping):
        values = []
        for name, short, error in _FIELDS:
            values.append(_number(raw.get(name, raw.get(short)), error, name))
    elif isinstance(raw, Sequence) and not isinstance(raw, str) and len(raw) == 4:
        values = [_number(v, error, name) for v, (name, _, error) in zip(raw, _FIELDS, strict=True)]
    else:
        raise InvalidBboxDims("a box is [x, y, w, h] or {left, top, width, height}", value=str(raw)[:64])
    if values[2] <= 0 or values[3] <= 0:
        raise InvalidBboxDims("bbox width and height must be positive", width=values[2], height=values[3])
    return values[0], values[1], values[2], values[3]


def parse_label(raw: Any) -> int:
    if isinstance(raw, bool):
        return int(raw)
    text = str(raw).strip().lower()
    if text in _POSITIVE:
        return 1
    if text in _NEGATIVE:
        return 0
    raise InvalidBboxLabels("bbox_labels entries are true/false, 1/0 or 'pos'/'neg'", value=text[:32])


def exemplars(
    boxes: Sequence[Any], labels: Sequence[Any] | None, width: int, height: int
) -> tuple[tuple[BBox, ...], tuple[int, ...]]:
    """Pixel xyxy boxes clipped to the image and their labels (padded with positives)."""
    if not boxes:
        raise Sam3VisualBoxesRequired("send a box (bbox_left/top/width/height) or a bboxes list")
    if len(boxes) > MAX_EXEMPLARS:
        raise InvalidBboxDims(f"at most {MAX_EXEMPLARS} exemplar boxes", limit=MAX_EXEMPLARS)
    given = [parse_label(v) for v in (labels or [])][: len(boxes)]
    parsed = tuple(box_from_xywh(*parse_box(raw), width, height) for raw in boxes)
    return parsed, tuple(given + [1] * (len(boxes) - len(given)))

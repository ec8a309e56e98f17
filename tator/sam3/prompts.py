"""Point and box prompts of the interactive routes, checked against the image they refer to.

Every coordinate is in absolute pixels of the image exactly as the client sent it (never downscaled).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tator.annotations import BBox
from tator.errors import PointOutsideImage, PositivePointsRequired, PromptBboxInvalid

MAX_PROMPT_POINTS = 64


@dataclass(frozen=True)
class Prompt:
    """Points (`labels`: 1 positive, 0 negative) and/or one box, pixels of the image."""

    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: BBox | None = None

    @property
    def ambiguous(self) -> bool:
        """A lone click is ambiguous (part, object, group): ask the model for several masks and keep the best."""
        return self.box is None and len(self.points) == 1


def _point(x: float, y: float, width: int, height: int, name: str) -> tuple[float, float]:
    if not (math.isfinite(x) and math.isfinite(y)) or not (0 <= x <= width and 0 <= y <= height):
        raise PointOutsideImage(
            f"{name} ({x}, {y}) lies outside the {width}x{height} image", point=[str(x), str(y)], width=width,
            height=height,
        )  # fmt: skip
    return float(x), float(y)


def point_prompt(x: float, y: float, width: int, height: int) -> Prompt:
    """One positive click at pixel (x, y)."""
    return Prompt(points=(_point(x, y, width, height, "point"),), labels=(1,))


def box_from_xywh(left: float, top: float, box_w: float, box_h: float, width: int, height: int) -> BBox:
    """Pixel [left, top, width, height] clipped to the image; refused when no area is left."""
    values = (left, top, box_w, box_h)
    if not all(math.isfinite(v) for v in values):
        raise PromptBboxInvalid("bbox values must be finite numbers", bbox=[str(v) for v in values])
    x1, y1 = max(0.0, float(left)), max(0.0, float(top))
    x2, y2 = min(float(width), float(left + box_w)), min(float(height), float(top + box_h))
    if x2 - x1 < 1 or y2 - y1 < 1:
        raise PromptBboxInvalid(
            "bbox has no area inside the image", bbox=[str(v) for v in values], width=width, height=height
        )
    return BBox(x1, y1, x2, y2)


def box_prompt(left: float, top: float, box_w: float, box_h: float, width: int, height: int) -> Prompt:
    """A box given as pixel [left, top, width, height]."""
    return Prompt(box=box_from_xywh(left, top, box_w, box_h, width, height))


def multi_point_prompt(
    positive: Sequence[Sequence[float]], negative: Sequence[Sequence[float]], width: int, height: int
) -> Prompt:
    """Positive and negative clicks ([[x, y], ...], pixels); at least one positive point is required."""
    if not positive:
        raise PositivePointsRequired("positive_points needs at least one [x, y] point")
    if len(positive) + len(negative) > MAX_PROMPT_POINTS:
        raise PositivePointsRequired(f"at most {MAX_PROMPT_POINTS} points per prompt", limit=MAX_PROMPT_POINTS)
    points: list[tuple[float, float]] = []
    for name, group in (("positive point", positive), ("negative point", negative)):
        for item in group:
            if len(item) != 2:
                raise PointOutsideImage(f"{name} must be [x, y]", point=[str(v) for v in item])
            points.append(_point(float(item[0]), float(item[1]), width, height, name))
    return Prompt(points=tuple(points), labels=(1,) * len(positive) + (0,) * len(negative))

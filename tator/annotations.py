"""Shared annotation types and the coordinate conventions, written down once.

Internally every box is `BBox`: absolute pixels, `xyxy`, in the coordinate space of the image exactly as
the client sent it. The contract's other conventions are conversions at the edge (see `tator.vision`):
- detector responses: pixel `[x, y, w, h]` (top-left + size);
- SAM / SAM3 / Qwen detections: YOLO-normalised `[cx, cy, w, h]` in 0..1;
- Qwen model output: `bbox_2d` on a 0..1000 grid.
"""

from __future__ import annotations

from typing import NamedTuple


class BBox(NamedTuple):
    """Axis-aligned box in absolute pixels, `x1 <= x2`, `y1 <= y2`."""

    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

"""Slicing plans for windowed (tiled) inference, and merging tile results back into one image."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tator.vision.boxes import FloatArray, classwise_nms


@dataclass(frozen=True)
class Window:
    """A tile in pixel xyxy of the full image."""

    x1: int
    y1: int
    x2: int
    y2: int


def slice_plan(width: int, height: int, *, slice_size: int, overlap: float) -> list[Window]:
    """Tiles of `slice_size` (clamped to the image) stepping by `slice_size * (1 - overlap)`; the last
    row and column are shifted back inside the image so every tile has full size."""
    tile_w, tile_h = min(slice_size, width), min(slice_size, height)
    step_x = max(1, int(tile_w * (1 - overlap)))
    step_y = max(1, int(tile_h * (1 - overlap)))
    xs = _starts(width, tile_w, step_x)
    ys = _starts(height, tile_h, step_y)
    return [Window(x, y, x + tile_w, y + tile_h) for y in ys for x in xs]


def _starts(length: int, tile: int, step: int) -> list[int]:
    if tile >= length:
        return [0]
    count = math.ceil((length - tile) / step) + 1
    starts = [min(i * step, length - tile) for i in range(count)]
    return sorted(set(starts))


@dataclass
class TileDetections:
    """Detections of one tile in tile-local pixel xyxy."""

    window: Window
    boxes: FloatArray
    scores: FloatArray
    classes: np.ndarray


def merge_tiles(tiles: list[TileDetections], *, iou: float) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """Shift every tile's boxes into full-image coordinates and merge overlaps with class-wise NMS."""
    shifted = [t.boxes.reshape(-1, 4) + np.array([t.window.x1, t.window.y1] * 2, dtype=np.float32) for t in tiles]
    if not shifted or sum(len(s) for s in shifted) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    boxes = np.concatenate(shifted).astype(np.float32)
    scores = np.concatenate([t.scores.reshape(-1) for t in tiles]).astype(np.float32)
    classes = np.concatenate([t.classes.reshape(-1) for t in tiles]).astype(np.int64)
    keep = classwise_nms(boxes, scores, classes, iou)
    return boxes[keep], scores[keep], classes[keep]

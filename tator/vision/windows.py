"""Slicing plans for windowed (tiled) inference, and merging tile results back into one image."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tator.errors import TooManyWindows
from tator.vision.boxes import FloatArray, classwise_nms

DEFAULT_MAX_WINDOWS = 1024


@dataclass(frozen=True)
class Window:
    """A tile in pixel xyxy of the full image."""

    x1: int
    y1: int
    x2: int
    y2: int


def _tile_and_step(length: int, slice_size: int, overlap: float) -> tuple[int, int]:
    tile = max(1, min(slice_size, length))
    return tile, max(1, int(tile * (1 - overlap)))


def _count(length: int, tile: int, step: int) -> int:
    return 1 if tile >= length else math.ceil((length - tile) / step) + 1


def window_count(width: int, height: int, *, slice_size: int, overlap: float) -> int:
    """How many tiles `slice_plan` makes, computed without making them (cheap for any image size)."""
    tile_w, step_x = _tile_and_step(width, slice_size, overlap)
    tile_h, step_y = _tile_and_step(height, slice_size, overlap)
    return _count(width, tile_w, step_x) * _count(height, tile_h, step_y)


def check_window_budget(width: int, height: int, *, slice_size: int, overlap: float, max_windows: int) -> int:
    """The plan's tile count, or 422 `too_many_windows` when it exceeds `max_windows` (before any model work)."""
    count = window_count(width, height, slice_size=slice_size, overlap=overlap)
    if count > max_windows:
        raise TooManyWindows(
            f"slice_size {slice_size} with overlap {overlap:g} cuts this {width}x{height} image into {count} "
            f"windows; at most {max_windows} are allowed per request (raise slice_size or lower overlap)",
            windows=count, max_windows=max_windows,
        )  # fmt: skip
    return count


def slice_plan(
    width: int, height: int, *, slice_size: int, overlap: float, max_windows: int = DEFAULT_MAX_WINDOWS
) -> list[Window]:
    """Tiles of `slice_size` (clamped to the image) stepping by `slice_size * (1 - overlap)`; the last
    row and column are shifted back inside the image so every tile has full size. More than `max_windows`
    tiles is refused before any is made."""
    check_window_budget(width, height, slice_size=slice_size, overlap=overlap, max_windows=max_windows)
    tile_w, step_x = _tile_and_step(width, slice_size, overlap)
    tile_h, step_y = _tile_and_step(height, slice_size, overlap)
    xs = _starts(width, tile_w, step_x)
    ys = _starts(height, tile_h, step_y)
    return [Window(x, y, x + tile_w, y + tile_h) for y in ys for x in xs]


def _starts(length: int, tile: int, step: int) -> list[int]:
    starts = [min(i * step, length - tile) for i in range(_count(length, tile, step))]
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

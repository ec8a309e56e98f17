from __future__ import annotations

import numpy as np
import pytest

from tator.errors import TooManyWindows
from tator.vision.windows import (
    TileDetections,
    Window,
    check_window_budget,
    merge_tiles,
    slice_plan,
    window_count,
)


def test_plan_covers_image_with_full_size_tiles() -> None:
    plan = slice_plan(2048, 2048, slice_size=640, overlap=0.2)
    assert all(w.x2 - w.x1 == 640 and w.y2 - w.y1 == 640 for w in plan)
    assert max(w.x2 for w in plan) == 2048 and max(w.y2 for w in plan) == 2048
    assert min(w.x1 for w in plan) == 0
    xs = sorted({w.x1 for w in plan})
    assert all(b - a <= 512 for a, b in zip(xs, xs[1:], strict=False))  # step = 640 * 0.8
    assert len(plan) == len(xs) ** 2


def test_small_image_is_one_window() -> None:
    assert slice_plan(300, 200, slice_size=640, overlap=0.2) == [Window(0, 0, 300, 200)]


def test_merge_shifts_and_suppresses_duplicates_across_tiles() -> None:
    left = TileDetections(
        Window(0, 0, 100, 100), np.array([[80, 10, 100, 30]], np.float32), np.array([0.9], np.float32), np.array([1])
    )
    right = TileDetections(
        Window(80, 0, 180, 100),
        np.array([[0, 10, 20, 30], [50, 50, 60, 60]], np.float32),
        np.array([0.8, 0.5], np.float32),
        np.array([1, 2]),
    )
    boxes, scores, classes = merge_tiles([left, right], iou=0.5)
    assert boxes.tolist() == [[80, 10, 100, 30], [130, 50, 140, 60]]
    assert scores.tolist() == [np.float32(0.9), np.float32(0.5)]
    assert classes.tolist() == [1, 2]
    empty = merge_tiles([], iou=0.5)
    assert empty[0].shape == (0, 4)


@pytest.mark.parametrize(
    ("width", "height", "slice_size", "overlap"),
    [(480, 480, 32, 0.9), (640, 480, 640, 0.2), (1000, 300, 128, 0.5), (33, 1000, 32, 0.0), (5, 5, 64, 0.3)],
)
def test_window_count_matches_the_plan_without_building_it(
    width: int, height: int, slice_size: int, overlap: float
) -> None:
    plan = slice_plan(width, height, slice_size=slice_size, overlap=overlap, max_windows=10**6)
    assert window_count(width, height, slice_size=slice_size, overlap=overlap) == len(plan)


def test_plans_over_the_bound_are_refused_before_any_tile_is_made() -> None:
    with pytest.raises(TooManyWindows) as refused:
        slice_plan(480, 480, slice_size=32, overlap=0.9, max_windows=1024)
    assert refused.value.details == {"windows": 22801, "max_windows": 1024}
    # An image at the pixel limit would plan tens of millions; counting them is still instant.
    assert window_count(10_000, 10_000, slice_size=32, overlap=0.9) > 10**7
    assert check_window_budget(640, 640, slice_size=320, overlap=0.2, max_windows=9) == 9

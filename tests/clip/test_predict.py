"""Ranking a prediction (background guard) and the box to classify."""

from __future__ import annotations

import numpy as np
import pytest

from tator.clip.predict import crop_box, rank
from tator.errors import BboxInvalid

NAMES = ("cat", "dog", "__bg_0", "__bg_1")


def test_background_winner_is_reported_as_background_with_the_guard() -> None:
    proba = np.array([0.2, 0.1, 0.6, 0.1])
    guarded = rank(NAMES, proba, background_guard=True)
    assert guarded["prediction"] == "background" and guarded["background"] is True
    assert guarded["background_label"] == "__bg_0" and guarded["second_label"] == "cat"
    assert guarded["margin"] == pytest.approx(0.4)
    unguarded = rank(NAMES, proba, background_guard=False)
    assert (unguarded["prediction"], unguarded["second_label"], unguarded["background"]) == ("cat", "dog", False)
    assert unguarded["margin"] == pytest.approx(0.1)


def test_object_winner_skips_background_runner_up() -> None:
    result = rank(NAMES, np.array([0.5, 0.1, 0.3, 0.1]), background_guard=True)
    assert (result["prediction"], result["second_label"]) == ("cat", "dog")
    assert result["proba"] == pytest.approx(0.5) and result["error"] is None


def test_crop_box_scales_clips_and_refuses_empty_boxes() -> None:
    assert crop_box(None, 100, 50) == ((0.0, 0.0, 100.0, 50.0), False)
    box, given = crop_box([10, 10, 30, 20], 200, 100, space=(100, 50))
    assert given and tuple(box) == (20.0, 20.0, 60.0, 40.0)
    assert tuple(crop_box([-5, -5, 500, 500], 100, 50)[0]) == (0.0, 0.0, 100.0, 50.0)
    for bad in ([1, 2, 3], [5, 5, 5, 5], [float("nan"), 0, 1, 1], [200, 200, 300, 300]):
        with pytest.raises(BboxInvalid):
            crop_box(bad, 100, 50)

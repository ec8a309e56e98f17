"""The RGB to BGR swap before ultralytics: the same pixels as numpy's reversed channels, for every layout."""

from __future__ import annotations

import numpy as np

from tator.yolo.infer import to_bgr


def test_to_bgr_swaps_channels_exactly() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (97, 131, 3), dtype=np.uint8)
    bgr = to_bgr(rgb)
    assert bgr.dtype == np.uint8 and bgr.flags.c_contiguous
    assert np.array_equal(bgr, rgb[:, :, ::-1])
    assert np.array_equal(rgb, np.random.default_rng(0).integers(0, 255, (97, 131, 3), dtype=np.uint8))  # untouched
    view = rgb[10:50, 20:90]  # a crop (window) is not contiguous: still right
    assert np.array_equal(to_bgr(view), view[:, :, ::-1]) and to_bgr(view).flags.c_contiguous

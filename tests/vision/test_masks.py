from __future__ import annotations

import numpy as np
import pytest

from tator.annotations import BBox
from tator.vision.masks import decode_mask, encode_mask, mask_box, mask_polygons


def _rect_mask(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    x1, y1, x2, y2 = box
    mask[y1:y2, x1:x2] = True
    return mask


def test_encoding_round_trips_and_uses_packbits_row_major() -> None:
    mask = _rect_mask(7, 5, (1, 2, 4, 6))
    encoded = encode_mask(mask)
    assert encoded is not None and encoded["size"] == [7, 5]
    assert np.array_equal(decode_mask(encoded), mask)
    import base64

    raw = np.frombuffer(base64.b64decode(encoded["counts"]), dtype=np.uint8)
    assert np.array_equal(raw, np.packbits(mask.reshape(-1)))


def test_too_large_masks_are_not_encoded() -> None:
    assert encode_mask(np.ones((64, 64), dtype=bool), max_bytes=100) is None


def test_decode_refuses_mismatched_payloads() -> None:
    encoded = encode_mask(np.ones((4, 4), dtype=bool))
    assert encoded is not None
    with pytest.raises(ValueError):
        decode_mask({"size": [8, 8], "counts": encoded["counts"]})
    with pytest.raises(ValueError):
        decode_mask({"size": [4, 4], "counts": "not base64!"})


def test_mask_box_is_tight_and_exclusive() -> None:
    assert mask_box(_rect_mask(20, 30, (3, 4, 10, 12))) == BBox(3.0, 4.0, 10.0, 12.0)
    assert mask_box(np.zeros((5, 5), dtype=bool)) is None


def test_polygons_trace_a_rectangle() -> None:
    polygons = mask_polygons(_rect_mask(40, 40, (5, 5, 25, 15)), epsilon=1.0)
    assert len(polygons) == 1
    xs, ys = polygons[0][0::2], polygons[0][1::2]
    assert (min(xs), min(ys), max(xs), max(ys)) == (5.0, 5.0, 24.0, 14.0)
    assert mask_polygons(_rect_mask(40, 40, (5, 5, 7, 7)), min_area=10.0) == []

"""The detector predict flow without HTTP: a fake family model, real image cache and answer shaping."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tator.detectors.predict import (
    Knobs,
    WindowRequest,
    clamp,
    match_labelmap,
    predict,
    region_mode,
)
from tator.errors import RegionRequired
from tator.runtime.images import ImageCache, ImageLimits, ImagePayload
from tator.vision.detection import Detections, Pixels, Prediction, PredictMode, WindowedMode


def _png(width: int, height: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_labelmap_matching() -> None:
    assert match_labelmap(["Cat", "dog"], None) == ({}, [])
    assert match_labelmap([], ["cat"]) == ({}, ["labelmap_missing"])
    assert match_labelmap(["cat", "dog"], ["cat", "dog"]) == ({0: 0, 1: 1}, [])
    assert match_labelmap(["Cat", "dog"], ["dog", "cat", "bird"]) == ({0: 1, 1: 0}, ["labelmap_remapped"])
    assert match_labelmap(["cat", "fox"], ["cat", "dog"]) == ({}, ["labelmap_mismatch"])


def test_clamp_and_region() -> None:
    warnings: list[str] = []
    assert clamp(2.0, 0.0, 1.0, "conf", warnings) == 1.0 and clamp(float("nan"), 0.0, 1.0, "iou", warnings) == 0.0
    assert warnings == ["conf_clamped", "iou_clamped"]
    mode = region_mode([1, 2, 3, 4], center_only=False, image_is_cropped=True, full_size=(100, None))
    assert mode.region_xywh == (1.0, 2.0, 3.0, 4.0) and mode.full_size is None
    with pytest.raises(RegionRequired):
        region_mode([1, 2, 0, 4], center_only=True, image_is_cropped=False, full_size=(None, None))


def test_flow_plans_windows_from_the_image_and_shapes_the_answer() -> None:
    images = ImageCache(max_bytes=2**24, max_entries=4, limits=ImageLimits(max_bytes=2**24, max_pixels=10**7))
    seen: list[tuple[PredictMode, float, int]] = []

    def run(pixels: Pixels, mode: PredictMode, conf: float, max_det: int) -> Prediction:
        assert pixels.shape == (100, 200, 3)
        seen.append((mode, conf, max_det))
        found = Detections(np.array([[10, 20, 50, 80]], np.float32), np.array([0.9], np.float32), np.array([1]))
        return Prediction(found, ["cat", "dog"], [])

    warnings: list[str] = []
    answer = predict(
        images, ImagePayload(image_base64=_png(200, 100)), WindowRequest(500, 0.95, 0.5),
        Knobs(conf=-1, max_det=9999, expected_labelmap=["dog", "cat"]), run, warnings,
    )  # fmt: skip
    mode, conf, max_det = seen[0]
    assert isinstance(mode, WindowedMode) and (mode.slice_size, mode.overlap) == (200, 0.9)
    assert (conf, max_det) == (0.0, 5000)
    assert answer.warnings == ["conf_clamped", "max_det_clamped", "slice_size_clamped", "overlap_clamped",
                               "labelmap_remapped"]  # fmt: skip
    assert [d.model_dump() for d in answer.detections] == [
        {"bbox": [10.0, 20.0, 40.0, 60.0], "class_id": 0, "class_name": "dog", "score": 0.9}
    ]
    assert answer.image_token and answer.labelmap == ["cat", "dog"]

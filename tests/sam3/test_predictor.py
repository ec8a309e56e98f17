from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tator.runtime.loaders import ModelSpec
from tator.sam3.loader import load_sam1, load_sam3_tracker
from tator.sam3.predictor import _model_inputs, embed_image, predict_mask
from tator.sam3.prompts import box_prompt, multi_point_prompt, point_prompt


@pytest.fixture(scope="module")
def pixels() -> np.ndarray:
    return np.full((2000, 3000, 3), 30, dtype=np.uint8)


def _handle(tiny_zoo: dict[str, Path], family: str) -> Any:
    loader = load_sam1 if family == "sam1" else load_sam3_tracker
    return loader(ModelSpec(family, str(tiny_zoo[family])), "cpu").value


def test_tracker_maps_pixels_onto_its_square_input(tiny_zoo: dict[str, Path], pixels: np.ndarray) -> None:
    handle = _handle(tiny_zoo, "sam3_tracker")
    embedding = embed_image(handle, pixels)
    side = 224  # the tiny tracker's input size; the whole image is resized onto it
    inputs = _model_inputs(handle, embedding, point_prompt(1500, 1000, 3000, 2000))
    assert inputs["input_points"][0, 0, 0].tolist() == pytest.approx([side / 2, side / 2])
    assert inputs["input_labels"].tolist() == [[[1]]]
    boxed = _model_inputs(handle, embedding, box_prompt(0, 1000, 3000, 1000, 3000, 2000))
    assert boxed["input_boxes"][0, 0].tolist() == pytest.approx([0, side / 2, side, side])


def test_classic_sam_scales_by_the_longest_side(tiny_zoo: dict[str, Path], pixels: np.ndarray) -> None:
    handle = _handle(tiny_zoo, "sam1")
    embedding = embed_image(handle, pixels)
    assert embedding.model_size == (85, 128)  # 2000x3000 resized so the longest side is 128, then padded
    inputs = _model_inputs(handle, embedding, multi_point_prompt([[3000, 2000]], [[0, 0]], 3000, 2000))
    assert inputs["input_points"][0, 0].reshape(-1).tolist() == pytest.approx([128, 85, 0, 0])
    assert inputs["input_labels"].tolist() == [[[1, 0]]]


@pytest.mark.parametrize("family", ["sam1", "sam3_tracker"])
def test_masks_come_back_at_full_size(tiny_zoo: dict[str, Path], pixels: np.ndarray, family: str) -> None:
    handle = _handle(tiny_zoo, family)
    embedding = embed_image(handle, pixels)
    assert embedding.nbytes > 0
    for prompt in (point_prompt(10, 10, 3000, 2000), box_prompt(5, 5, 100, 100, 3000, 2000)):
        result = predict_mask(handle, embedding, prompt)
        assert result.mask.shape == (2000, 3000) and result.mask.dtype == bool

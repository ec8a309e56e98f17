from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tator.vision.masks import decode_mask
from tests.api.sam3.support import big_image, sam_client, shapes_image

__all__ = ["big_image", "sam_client"]


def _check(body: dict[str, Any], width: int, height: int, source: str) -> None:
    assert len(body["masks"]) == len(body["detections"])
    for detection, mask in zip(body["detections"], body["masks"], strict=True):
        assert detection["source"] == source and detection["mask"] == mask
        assert decode_mask(mask).shape == (height, width)
        cx, cy, w, h = detection["bbox"]
        assert 0 <= cx - w / 2 + 1e-6 and cx + w / 2 <= 1 + 1e-6 and 0 <= cy - h / 2 + 1e-6 and cy + h / 2 <= 1 + 1e-6
        assert w > 0 and h > 0


def test_text_prompt_full_and_windowed(sam_client: TestClient, big_image: str) -> None:
    request = {"image_base64": big_image, "text_prompt": "red  square", "threshold": 0.0, "max_results": 3}
    full = sam_client.post("/sam3/text_prompt", json=request)
    assert full.status_code == 200, full.text
    body = full.json()
    assert 1 <= len(body["detections"]) <= 3 and body["warnings"] == []
    assert body["detections"][0]["qwen_label"] == "red square"
    _check(body, 3000, 2000, "sam3_text")
    windowed = sam_client.post(
        "/sam3/text_prompt",
        json={**request, "image_base64": None, "image_token": body["image_token"], "windowed": True,
              "window_size": 1008, "merge_iou": 0.5},
    )  # fmt: skip
    assert windowed.status_code == 200, windowed.text
    _check(windowed.json(), 3000, 2000, "sam3_text")
    none = sam_client.post("/sam3/text_prompt", json={**request, "threshold": 1.0})
    assert none.json()["detections"] == [] and none.json()["warnings"] == ["no_results"]


def test_text_prompt_auto_without_a_classifier(sam_client: TestClient) -> None:
    image = shapes_image(320, 240, box=(10, 10, 100, 100))
    body = sam_client.post(
        "/sam3/text_prompt_auto", json={"image_base64": image, "text_prompt": "square", "threshold": 0.0}
    ).json()
    assert body["detections"] == [] and body["warnings"] == ["clip_unavailable"] and body["image_token"]


def test_visual_prompt_with_box_lists_labels_and_text(sam_client: TestClient) -> None:
    image = shapes_image(640, 480, box=(100, 100, 300, 300))
    single = sam_client.post(
        "/sam3/visual_prompt",
        json={"image_base64": image, "bbox_left": 100, "bbox_top": 100, "bbox_width": 200, "bbox_height": 200,
              "threshold": 0.0},
    )  # fmt: skip
    assert single.status_code == 200, single.text
    _check(single.json(), 640, 480, "sam3_visual")
    boxes = [
        [100, 100, 200, 200],
        {"left": 400, "top": 300, "width": 50, "height": 50},
        {"x": 1, "y": 1, "w": 9, "h": 9},
    ]
    listed = sam_client.post(
        "/sam3/visual_prompt",
        json={"image_base64": image, "bboxes": boxes, "bbox_labels": [True, "neg"], "prompt": "square",
              "threshold": 0.0, "max_results": 2},
    )  # fmt: skip
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["detections"]) <= 2
    assert listed.json()["detections"][0]["qwen_label"] == "square"


@pytest.mark.parametrize(
    ("path", "fields", "status", "code"),
    [
        ("/sam3/text_prompt", {"text_prompt": "  "}, 422, "text_prompt_required"),
        ("/sam3/text_prompt", {}, 422, "text_prompt_required"),
        ("/sam3/text_prompt", {"text_prompt": "car", "sam_variant": "sam1"}, 400, "sam3_text_requires_sam3"),
        ("/sam3/text_prompt_auto", {"text_prompt": "car", "sam_variant": "sam1"}, 400, "sam3_text_requires_sam3"),
        ("/sam3/visual_prompt", {"bboxes": [[1, 1, 5, 5]], "sam_variant": "sam1"}, 400, "sam3_visual_requires_sam3"),
        ("/sam3/visual_prompt", {}, 422, "sam3_visual_boxes_required"),
        ("/sam3/visual_prompt", {"bboxes": [[1, 1, 0, 5]]}, 422, "invalid_bbox_dims"),
        ("/sam3/visual_prompt", {"bboxes": [["a", 1, 5, 5]]}, 422, "invalid_bbox_left"),
        ("/sam3/visual_prompt", {"bboxes": [{"left": 1, "top": 1, "width": 5}]}, 422, "invalid_bbox_height"),
        ("/sam3/visual_prompt", {"bboxes": [[1, 1, 5, 5]], "bbox_labels": ["maybe"]}, 422, "invalid_bbox_labels"),
        ("/sam3/visual_prompt", {"bboxes": [[5000, 1, 5, 5]]}, 422, "invalid_bbox"),
        ("/sam3/visual_prompt", {"bbox_left": 1, "bbox_top": 1, "bbox_width": 5}, 422, "invalid_bbox_height"),
    ],
)
def test_concept_prompt_errors(
    sam_client: TestClient, path: str, fields: dict[str, Any], status: int, code: str
) -> None:
    image = shapes_image(64, 64, box=(1, 1, 20, 20))
    response = sam_client.post(path, json={"image_base64": image, **fields})
    assert (response.status_code, response.json()["detail"]) == (status, code)
    assert sam_client.app.state.tator.registry.load_count == 0  # type: ignore[attr-defined]

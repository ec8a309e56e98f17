from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tator.vision.masks import decode_mask
from tests.api.sam3.support import big_image, sam_client, shapes_image

__all__ = ["big_image", "sam_client"]


def _check_answer(answer: dict[str, Any], width: int, height: int) -> np.ndarray:
    assert answer["class_id"] == "0" and len(answer["bbox"]) == 4
    mask = decode_mask(answer["mask"])
    assert mask.shape == (height, width)
    cx, cy, w, h = answer["bbox"]
    assert 0 <= cx - w / 2 and cx + w / 2 <= 1 + 1e-6 and 0 <= cy - h / 2 and cy + h / 2 <= 1 + 1e-6
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    # The box is the mask's tight box, in YOLO-normalised units of the full image.
    expected = [(cols[0] + cols[-1] + 1) / 2 / width, (rows[0] + rows[-1] + 1) / 2 / height]
    assert answer["bbox"][:2] == pytest.approx(expected, abs=1e-5)
    return mask


@pytest.mark.parametrize("variant", ["sam3", "sam1"])
def test_prompts_answer_full_size_masks_and_boxes_inside_the_image(
    sam_client: TestClient, big_image: str, variant: str
) -> None:
    point = {"point_x": 1300, "point_y": 900, "uuid": "a", "sam_variant": variant}
    first = sam_client.post("/sam_point", json={"image_base64": big_image, **point})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["uuid"] == "a"
    _check_answer(body, 3000, 2000)
    token = body["image_token"]
    box = sam_client.post(
        "/sam_bbox",
        json={"image_token": token, "bbox_left": 1000, "bbox_top": 600, "bbox_width": 600, "bbox_height": 600,
              "sam_variant": variant},
    )  # fmt: skip
    assert box.status_code == 200, box.text
    _check_answer(box.json(), 3000, 2000)
    multi = sam_client.post(
        "/sam_point_multi",
        json={"image_token": token, "positive_points": [[1300, 900], [1100, 700]], "negative_points": [[10, 10]],
              "sam_variant": variant},
    )  # fmt: skip
    assert multi.status_code == 200, multi.text
    _check_answer(multi.json(), 3000, 2000)
    # Three prompts on one image: one image-encoder pass, and the Server-Timing header says which paid for it.
    assert sam_client.app.state.tator.sam.cache.computed == 1  # type: ignore[attr-defined]
    phases = [{p.split(";")[0].strip() for p in r.headers["server-timing"].split(",")} for r in (first, box, multi)]
    assert phases == [{"encode", "decode", "app"}, {"decode", "app"}, {"decode", "app"}]


@pytest.mark.parametrize(
    ("path", "fields", "status", "code"),
    [
        ("/sam_point", {"point_x": 3001, "point_y": 10}, 422, "point_outside_image"),
        ("/sam_point", {"point_x": -1, "point_y": 10}, 422, "point_outside_image"),
        ("/sam_bbox", {"bbox_left": 10, "bbox_top": 10, "bbox_width": 0, "bbox_height": 50}, 422, "invalid_bbox"),
        ("/sam_bbox", {"bbox_left": 3000, "bbox_top": 10, "bbox_width": 50, "bbox_height": 50}, 422, "invalid_bbox"),
        ("/sam_point_multi", {"positive_points": [], "negative_points": [[1, 1]]}, 422, "positive_points_required"),
        ("/sam_point_multi", {"positive_points": [[1, 2, 3]]}, 422, "point_outside_image"),
        ("/sam_point", {"point_x": 1, "point_y": 1, "sam_variant": "sam2"}, 422, "sam_variant_unknown"),
        ("/sam_point_auto", {"point_x": 1, "point_y": 5000}, 422, "point_outside_image"),
    ],
)
def test_bad_prompts_get_stable_codes(
    sam_client: TestClient, big_image: str, path: str, fields: dict[str, Any], status: int, code: str
) -> None:
    response = sam_client.post(path, json={"image_base64": big_image, **fields})
    assert (response.status_code, response.json()["detail"]) == (status, code)
    assert sam_client.app.state.tator.registry.load_count == 0  # type: ignore[attr-defined]


def test_unknown_token_is_a_404_the_client_can_recover_from(sam_client: TestClient) -> None:
    response = sam_client.post("/sam_point", json={"image_token": "f" * 32, "point_x": 1, "point_y": 1})
    assert (response.status_code, response.json()["detail"]) == (404, "image_token_not_found")
    missing = sam_client.post("/sam_point", json={"point_x": 1, "point_y": 1})
    assert missing.json()["detail"] == "image_payload_missing"


def test_auto_without_a_classifier_is_a_soft_failure(sam_client: TestClient, big_image: str) -> None:
    for path, fields in (
        ("/sam_point_auto", {"point_x": 1300, "point_y": 900}),
        ("/sam_bbox_auto", {"bbox_left": 1000, "bbox_top": 600, "bbox_width": 600, "bbox_height": 600}),
        ("/sam_point_multi_auto", {"positive_points": [[1300, 900]]}),
    ):
        response = sam_client.post(path, json={"image_base64": big_image, "uuid": "u", **fields})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["error"] in ("clip_unavailable", "empty_mask") and body["bbox"] == []
        assert body["prediction"] == "unknown" and body["uuid"] == "u" and body["image_token"]


def test_two_clients_on_two_images_each_get_their_own_answer(sam_client: TestClient) -> None:
    images = {
        "left": shapes_image(640, 480, box=(20, 20, 200, 200)),
        "right": shapes_image(480, 640, box=(300, 400, 460, 620)),
    }
    prompts = {"left": (100, 100), "right": (380, 500)}
    alone = {}
    for name, image in images.items():
        x, y = prompts[name]
        alone[name] = sam_client.post("/sam_point", json={"image_base64": image, "point_x": x, "point_y": y}).json()
    together: dict[str, list[dict[str, Any]]] = {name: [] for name in images}

    def ask(name: str) -> None:
        x, y = prompts[name]
        for _ in range(4):
            reply = sam_client.post("/sam_point", json={"image_base64": images[name], "point_x": x, "point_y": y})
            together[name].append(reply.json())

    threads = [threading.Thread(target=ask, args=(name,)) for name in images for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name in images:
        assert len(together[name]) == 8
        for reply in together[name]:
            assert reply["image_token"] == alone[name]["image_token"]
            assert reply["mask"] == alone[name]["mask"] and reply["bbox"] == alone[name]["bbox"]
    assert alone["left"]["mask"]["size"] == [480, 640] and alone["right"]["mask"]["size"] == [640, 480]

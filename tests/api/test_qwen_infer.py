"""`/qwen/infer` and `/qwen/caption*` end to end on the tiny models: shapes, codes, bounds and cancel.

The tiny models are random, so their answers are garbage: these tests check what the routes promise
regardless of the text (parsing and mapping are tested on fixed strings in tests/qwen/test_parse.py).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tator.app import create_app
from tator.qwen import infer as qwen_infer
from tator.qwen.caption_prompt import model_size
from tator.qwen.generate import GenerationOutput
from tests.api.sam3.support import shapes_image
from tests.qwen.support import png_b64, qwen_settings

PIXELS = {"qwen_min_pixels": 64 * 64, "qwen_max_pixels": 128 * 128}


def test_infer_shapes_and_refusals(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    image = png_b64(Image.new("RGB", (300, 200), (20, 120, 200)))
    with TestClient(create_app(qwen_settings(tmp_path, tiny_zoo, **PIXELS))) as client:
        refusals = [
            ({"image_base64": image}, 422, "prompt_or_items_required"),
            ({"image_base64": image, "prompt": "  ", "item_list": []}, 422, "prompt_or_items_required"),
            (
                {"image_base64": image, "item_list": "cat", "item_template": "find {items}"},
                400,
                "qwen_template_invalid",
            ),
            (
                {"image_base64": image, "prompt": "x", "prompt_type": "point", "sam_variant": "sam9"},
                422,
                "sam_variant_unknown",
            ),
            ({"image_base64": image, "prompt": "x", "model_id": "nope"}, 404, "qwen_model_not_found"),
            ({"prompt": "x"}, 428, "image_payload_missing"),
            ({"image_token": "f" * 32, "prompt": "x"}, 404, "image_token_not_found"),
        ]
        for body, status, code in refusals:
            response = client.post("/qwen/infer", json=body)
            assert (response.status_code, response.json()["detail"]) == (status, code), body
        assert (
            client.post("/qwen/infer", json={"image_base64": image, "prompt": "x", "max_results": 0}).status_code == 422
        )
        answer = client.post(
            "/qwen/infer",
            json={"image_base64": image, "item_list": "cat, dog", "image_type": "photo", "extra_context": "A farm."},
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["prompt"].startswith("Locate every cat, dog in this photo. A farm.")
        assert body["prompt_type"] == "bbox" and body["model_family"] == "qwen3_vl" and isinstance(body["boxes"], list)
        assert isinstance(body["raw_response"], str) and 1 <= body["tokens"] <= 8
        assert body["warnings"]  # random weights: at least no_results (or a parse error) is reported, as a 200
        template = {
            "image_token": body["image_token"],
            "item_list": ["cat"],
            "item_template": "{image_type}|{items}|{extra_context}",
        }
        assert client.post("/qwen/infer", json=template).json()["prompt"] == "image|cat|"
        qwen25 = client.post(
            "/qwen/infer", json={"image_token": body["image_token"], "prompt": "x", "model_id": "qwen2_5_vl"}
        )
        assert qwen25.status_code == 200 and qwen25.json()["model_family"] == "qwen2_5_vl"
        # The resize the prompt builder predicts is the one the processor did (Qwen2.5-VL answers in its pixels).
        assert tuple(qwen25.json()["model_input_size"]) == model_size("qwen2_5_vl", (300, 200), 64 * 64, 128 * 128)


# Qwen3-VL answers on a 0-1000 grid: on a 3000 x 2000 image, point (433.33, 450) is pixel (1300, 900) and box
# (333.33, 300)-(533.33, 600) is pixels (1000, 600)-(1600, 1200), the object of the image below.
GROUNDED = '[{"label": "cat", "point_2d": [433.3333, 450], "bbox_2d": [333.3333, 300, 533.3333, 600]}]'


def _sam_box(client: TestClient, route: str, body: dict[str, Any]) -> list[float]:
    answer = client.post(route, json=body)
    assert answer.status_code == 200, answer.text
    cx, cy, w, h = answer.json()["bbox"]
    return [(cx - w / 2) * 3000, (cy - h / 2) * 2000, (cx + w / 2) * 3000, (cy + h / 2) * 2000]


@pytest.mark.parametrize("variant", ["sam3", "sam1"])
def test_point_and_bbox_sam_are_refined_by_sam(
    tmp_path: Path, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    # The tiny Qwen is random, so its text is fixed here; everything after generation (parse, mapping, SAM) is real.
    def fixed(*_args: object) -> GenerationOutput:
        return GenerationOutput(GROUNDED, (224, 160), 20, "eos", 0.01)

    monkeypatch.setattr(qwen_infer, "generate", fixed)
    settings = qwen_settings(tmp_path, tiny_zoo, model_zoo="tiny", **PIXELS)
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, settings.uploads_dir / "zoo")
    with TestClient(create_app(settings)) as client:
        image = shapes_image(3000, 2000, box=(1000, 600, 1600, 1200))
        by_type = {}
        for prompt_type in ("point", "bbox_sam", "bbox"):
            body = {"image_base64": image, "item_list": "cat", "prompt_type": prompt_type, "sam_variant": variant}
            answer = client.post("/qwen/infer", json=body)
            assert answer.status_code == 200, answer.text
            by_type[prompt_type] = answer.json()
        common = {"image_token": by_type["point"]["image_token"], "sam_variant": variant}
        point = _sam_box(client, "/sam_point", {**common, "point_x": 1300, "point_y": 900})
        box = _sam_box(client, "/sam_bbox", {**common, "bbox_left": 1000, "bbox_top": 600, "bbox_width": 600,
                                             "bbox_height": 600})  # fmt: skip
    for prompt_type, expected in (("point", point), ("bbox_sam", box)):
        answer = by_type[prompt_type]
        assert answer["prompt_type"] == prompt_type and "qwen_sam_unavailable" not in answer["warnings"]
        (found,) = answer["boxes"]
        assert found["source"] == f"qwen_{prompt_type}" and found["class_name"] == "cat"
        assert found["bbox_xyxy_px"] == pytest.approx(expected, abs=0.05)  # the box of SAM's mask for that prompt
        assert 0 <= found["bbox_xyxy_px"][0] < found["bbox_xyxy_px"][2] <= 3000
    (plain,) = by_type["bbox"]["boxes"]
    assert plain["bbox_xyxy_px"] == pytest.approx([1000, 600, 1600, 1200], abs=0.5)  # no SAM: the model's box


def test_caption_full_windowed_preview_and_refusals(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    image = png_b64(Image.new("RGB", (256, 192), (200, 80, 40)))
    hints = [{"label": "cat", "bbox": [0, 0, 128, 96]}, {"label": "cat", "bbox": [128, 96, 256, 192]}, {"label": "dog"}]
    with TestClient(create_app(qwen_settings(tmp_path, tiny_zoo, **PIXELS))) as client:
        for bad in ("[NaN, 0, 1, 1]", "[0, 0, 1]", "[5, 5, 1, 1]", "[0, 0, Infinity, 1]"):
            raw = f'{{"image_base64": "{image}", "label_hints": [{{"label": "a", "bbox": {bad}}}]}}'
            response = client.post("/qwen/caption", content=raw, headers={"content-type": "application/json"})
            assert (response.status_code, response.json()["detail"]) == (422, "qwen_label_hint_invalid"), bad
        no_label = client.post("/qwen/caption", json={"image_base64": image, "label_hints": [{"label": " "}]})
        assert no_label.json()["detail"] == "qwen_label_hint_invalid"
        full = client.post(
            "/qwen/caption",
            json={"image_base64": image, "label_hints": hints, "image_width": 512, "image_height": 384,
                  "final_caption_max_sentences": 1, "unknown_ui_field": True},
        )  # fmt: skip
        assert full.status_code == 200, full.text
        body = full.json()
        assert (
            body["used_counts"] == {"cat": 2, "dog": 1} and body["used_boxes"] == 2 and body["caption_mode"] == "full"
        )
        assert isinstance(body["caption"], str) and isinstance(body["truncated"], bool)
        assert isinstance(body["recovery_events"], list) and body["ignored_fields"] == ["unknown_ui_field"]
        assert "cat: [0, 0, 250, 250]" in body["prompt"] and "at most 1 sentences" in body["prompt"]  # 512-px frame
        windowed = client.post(
            "/qwen/caption",
            json={
                "image_token": body["image_token"],
                "caption_mode": "hybrid",
                "window_size": 128,
                "window_overlap": 0,
                "label_hints": hints,
            },
        ).json()
        assert windowed["caption_mode"] == "windowed" and len(windowed["windows"]) == 4
        assert windowed["windows"][0]["window_xyxy_px"] == [0, 0, 128, 128]
        preview = client.post(
            "/qwen/caption/preview_prompt",
            json={
                "image_token": body["image_token"],
                "caption_mode": "windowed",
                "window_size": 128,
                "window_overlap": 0,
                "label_hints": hints,
            },
        ).json()
        assert [w["window_xyxy_px"] for w in preview["windows"]] == [w["window_xyxy_px"] for w in windowed["windows"]]
        assert "cat: [0, 0, 1000, 750]" in preview["windows"][0]["prompt"]  # in the window's own grid
        assert "{windows}" in preview["prompt"]
        preview_full = client.post("/qwen/caption/preview_prompt", json={"image_token": body["image_token"]}).json()
        assert preview_full["prompt"].startswith("Describe this image in at most 10 sentences.")


def test_caption_cancel_stops_at_the_next_token(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    settings = qwen_settings(tmp_path, tiny_zoo, qwen_max_new_tokens_limit=20000, **PIXELS)
    image = png_b64(Image.new("RGB", (64, 64), (0, 0, 0)))
    with TestClient(create_app(settings)) as client:
        results: list[dict[str, object]] = []
        body = {"image_base64": image, "max_new_tokens": 20000}
        worker = threading.Thread(target=lambda: results.append(_post(client, body)))
        worker.start()
        deadline = time.monotonic() + 60
        while client.get("/qwen/progress").json()["tokens"] < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        progress = client.get("/qwen/progress").json()
        assert progress["running"] and progress["active"][0]["op"] == "caption"
        cancelled = client.post("/qwen/caption/cancel").json()
        at_cancel = cancelled["generations"][0]["tokens"]
        worker.join(timeout=30)
        assert not worker.is_alive() and cancelled["cancelled"] == 1
        assert results[0]["status"] == 409 and results[0]["detail"] == "qwen_generation_cancelled"
        last = client.get("/qwen/progress").json()["last"]
        assert at_cancel >= 5 and at_cancel <= last["tokens"] <= at_cancel + 1  # one more decoding step at most


def _post(client: TestClient, body: dict[str, object]) -> dict[str, object]:
    response = client.post("/qwen/caption", json=body)
    return {"status": response.status_code, **response.json()}

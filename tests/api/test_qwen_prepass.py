"""`POST /qwen/prepass` on the tiny zoo: sources, provenance, labelmap matching, bad input, concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.prepass.support import CLASSES, FAST, image_b64, prepass_client

__all__ = ["prepass_client"]
DETECTORS_ONLY = {**FAST, "enable_sam3_text": False, "enable_sam3_similarity": False}


def _post(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/qwen/prepass", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_every_source_with_provenance_and_trace(prepass_client: TestClient) -> None:
    body = {**FAST, "image_base64": image_b64(1), "labelmap": CLASSES, "classifier_id": "head.npz",
            "labelmap_glossary": "red_square: red box, crimson tile"}  # fmt: skip
    answer = _post(prepass_client, **body)
    tools = {(e["tool_name"], e["phase"]) for e in answer["trace"]}
    for tool in ("yolo", "rfdetr", "sam3_text", "classifier"):
        assert (tool, "tool_result") in tools, tools
    assert ("dedupe", "merge") in tools
    detections = answer["detections"]
    assert detections and answer["labelmap"] == CLASSES
    sources = {s for d in detections for s in d["source_list"]}
    assert {"yolo", "rfdetr", "sam3_text"} <= sources
    scores = [d["score"] for d in detections]
    assert scores == sorted(scores, reverse=True)
    for d in detections:
        x1, y1, x2, y2 = d["bbox_xyxy_px"]
        assert d["bbox_xywh_px"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.02)
        assert d["bbox_2d"] == pytest.approx(
            [x1 / 128 * 1000, y1 / 128 * 1000, x2 / 128 * 1000, y2 / 128 * 1000], abs=1
        )
        assert d["label"] == CLASSES[d["class_id"]] and d["source_primary"] in d["source_list"]
        assert d["prepass_atom_ids"] and set(d["score_by_source"]) == set(d["source_list"])
        assert max(d["score_by_source"].values()) == pytest.approx(d["score"])
        if d["label"] != "blue_triangle":  # the head knows two of the three classes
            assert 0.0 <= d["classifier_prob"] <= 1.0
        assert d["classifier_best"] in (*CLASSES[:2], "__bg_0")
    terms = {d["sam3_prompt_term"] for d in detections if d["source"] == "sam3_text"}
    assert terms and terms <= {"red square", "red_square", "red box", "crimson tile", "green circle", "green_circle",
                               "blue triangle", "blue_triangle"}  # fmt: skip
    assert answer["timings"]["model_s"] <= answer["timings"]["total_s"]


def test_detector_classes_follow_the_dataset_labelmap_by_name(prepass_client: TestClient) -> None:
    image = image_b64(2)
    moved_map = ["Blue Triangle", "extra", "red_square", "green_circle"]
    same = _post(prepass_client, **DETECTORS_ONLY, image_base64=image, labelmap=CLASSES)
    moved = _post(prepass_client, **DETECTORS_ONLY, image_base64=image, labelmap=moved_map)
    # the random tiny detectors give many zero-size boxes (dropped and counted); no other warning, same count
    assert same["warnings"] == moved["warnings"]
    assert all(w.startswith("prepass_empty_boxes_dropped:") for w in same["warnings"])
    canonical = {"Blue Triangle": "blue_triangle", "red_square": "red_square", "green_circle": "green_circle"}
    before = [(d["bbox_xyxy_px"], d["label"], d["score"]) for d in same["detections"]]
    after = [(d["bbox_xyxy_px"], canonical[d["label"]], d["score"]) for d in moved["detections"]]
    assert before == after and before
    assert all(moved_map[d["class_id"]] == d["label"] for d in moved["detections"])
    partial = _post(prepass_client, **DETECTORS_ONLY, image_base64=image, labelmap=["green_circle"])
    assert {d["label"] for d in partial["detections"]} <= {"green_circle"}
    assert any(w.startswith("detector_labelmap_unmapped:yolo:") for w in partial["warnings"])
    assert all(d["class_id"] == 0 for d in partial["detections"])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"enable_yolo": False, "enable_rfdetr": False, "enable_sam3_text": False, "enable_sam3_similarity": False,
          "labelmap": CLASSES}, 400, "prepass_no_source"),
        ({"enable_yolo": True}, 400, "prepass_labelmap_required"),
        ({"dataset_id": "nope"}, 404, "dataset_not_found"),
        ({"labelmap": CLASSES, "classifier_id": "missing.npz"}, 404, "classifier_not_found"),
        ({"labelmap": CLASSES, "classifier_id": "../../etc/passwd.npz"}, 400, "classifier_path_not_allowed"),
        ({"labelmap": CLASSES, "detector_conf": 2.0}, 422, None),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_any_work(
    prepass_client: TestClient, body: dict[str, Any], status: int, code: str | None
) -> None:
    response = prepass_client.post("/qwen/prepass", json=body)  # no image at all: the refusal comes first
    assert response.status_code == status, response.text
    if code:
        assert response.json()["detail"] == code


def test_no_model_for_any_enabled_source_is_412(client: TestClient) -> None:
    body = {"labelmap": CLASSES, "enable_sam3_text": False, "image_base64": image_b64(0)}
    response = client.post("/qwen/prepass", json=body)  # an app with no detector run and no SAM3
    assert (response.status_code, response.json()["detail"]) == (412, "prepass_sources_unavailable")
    assert "yolo_unavailable:yolo_active_missing" in response.json()["warnings"]


def test_concurrent_calls_do_not_interfere(prepass_client: TestClient) -> None:
    bodies = [
        {**FAST, "image_base64": image_b64(3), "labelmap": CLASSES, "enable_rfdetr": False},
        {**FAST, "image_base64": image_b64(4), "labelmap": ["green_circle", "red_square"],
         "labelmap_glossary": "green_circle: lime disc", "enable_sam3_similarity": False, "grid_cols": 1},
        {**DETECTORS_ONLY, "image_base64": image_b64(5), "labelmap": CLASSES[::-1], "fusion_mode": "wbf"},
    ]  # fmt: skip
    alone = [_post(prepass_client, **b) for b in bodies]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(lambda b: _post(prepass_client, **b), bodies * 2))
    for n, answer in enumerate(together):
        expected = alone[n % 3]
        assert answer["detections"] == expected["detections"]
        assert answer["labelmap"] == expected["labelmap"] and answer["warnings"] == expected["warnings"]
        assert [e["tool_name"] for e in answer["trace"]] == [e["tool_name"] for e in expected["trace"]]


def test_every_model_of_a_full_prepass_stays_resident(prepass_client: TestClient) -> None:
    """The default residency bounds keep every model a full prepass uses (detectors, SAM3, the head's
    backbone, Qwen) loaded: the next image loads nothing. A count bound of 4 reloaded them for every image."""
    body = {**FAST, "labelmap": CLASSES, "classifier_id": "head.npz", "prepass_caption": True}
    registry = prepass_client.app.state.tator.registry  # type: ignore[attr-defined]
    first = _post(prepass_client, **body, image_base64=image_b64(5))
    assert first["caption"]
    loads, resident = registry.load_count, [d.family for d in registry.describe()]
    assert {"yolo", "rfdetr", "sam3", "qwen"} <= set(resident) and len(resident) >= 5, resident
    _post(prepass_client, **body, image_base64=image_b64(6))
    assert registry.load_count == loads

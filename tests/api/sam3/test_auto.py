from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.sam3.support import big_image, sam_client
from tests.clip.support import write_head

__all__ = ["big_image", "sam_client"]
CLASSES = ("red_square", "green_circle", "__bg_0")


def _activate_head(client: TestClient, tiny_zoo: dict[str, Path]) -> None:
    uploads: Path = client.app.state.tator.settings.uploads_dir  # type: ignore[attr-defined]
    encoder = uploads / "embedders" / "clip"
    shutil.copytree(tiny_zoo["clip"], encoder)
    meta = {"encoder_type": "clip", "encoder_model": str(encoder), "clip_model": "ViT-B/32"}
    write_head(uploads / "classifiers", "head.npz", classes=CLASSES, meta=meta)
    active = client.post("/clip/active_model", json={"classifier_path": "head.npz"})
    assert active.status_code == 200, active.text


def test_auto_routes_classify_the_mask_box_with_the_active_head(
    sam_client: TestClient, tiny_zoo: dict[str, Path], big_image: str
) -> None:
    _activate_head(sam_client, tiny_zoo)
    box = {"bbox_left": 1000, "bbox_top": 600, "bbox_width": 600, "bbox_height": 600}
    answer = sam_client.post("/sam_bbox_auto", json={"image_base64": big_image, "uuid": "b", **box})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["error"] is None and body["uuid"] == "b" and len(body["bbox"]) == 4
    assert body["prediction"] in ("red_square", "green_circle", "background")
    assert 0 <= body["proba"] <= 1 and body["margin"] == body["proba"] - body["second_proba"]
    text = sam_client.post(
        "/sam3/text_prompt_auto",
        json={"image_token": body["image_token"], "text_prompt": "square", "threshold": 0.0, "max_results": 2},
    ).json()
    assert text["warnings"] == [] and 1 <= len(text["detections"]) <= 2
    assert all(d["prediction"] in ("red_square", "green_circle", "background") for d in text["detections"])

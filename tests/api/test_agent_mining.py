"""`/agent_mining/*` on the tiny zoo: a real mining job (with and without a head), the mining cache, and
applying the mined recipes with `apply_image` / `apply_image_chain`. The tiny SAM3 has random weights, so
the tests check that the figures are consistent and reproducible, not that they are good."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tator.sam3.prompt_helper.evaluate import match
from tator.zoo.synthetic import SyntheticDataset
from tests.api.sam3.support import sam_client
from tests.clip.support import write_head
from tests.datasets.zips import synthetic, zip_tree

__all__ = ["sam_client"]
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
# Small and fast: one prompt per class, two seed thresholds, two expansions per step, a loose match IoU so the
# random model matches something.
MINING = {"eval_image_count": 3, "threshold_candidates": [0.0, 0.3], "seed_threshold": 0.0, "max_visual_seeds": 2,
          "iou_threshold": 0.1, "max_results": 20, "steps_max_steps_per_recipe": 2}  # fmt: skip


def _wait(client: TestClient, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/agent_mining/jobs/{job_id}").json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


@pytest.fixture
def shapes(sam_client: TestClient, tmp_path: Path) -> SyntheticDataset:
    ds = synthetic(tmp_path / "src" / "shapes")
    archive = zip_tree(ds.root.parent, tmp_path / "shapes.zip")
    with open(archive, "rb") as handle:
        response = sam_client.post("/datasets/upload", files={"file": (archive.name, handle, "application/zip")})
    assert response.status_code == 200, response.text
    return ds


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _pixels(bbox: list[float], width: int, height: int) -> list[float]:
    cx, cy, w, h = bbox
    return [(cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height]


def _reproduces(client: TestClient, ds: SyntheticDataset, entry: dict[str, Any], iou: float) -> int:
    """Apply a mined class recipe to each sampled image and check the per-image figures; returns matches."""
    recipe, images = entry["recipe"], {i.key: i for i in ds.images}
    total = 0
    for row in recipe["summary"]["per_image"]:
        image = images[row["image"]]
        answer = client.post("/agent_mining/apply_image", json={"image_base64": _b64(image.path), "recipe": recipe})
        assert answer.status_code == 200, answer.text
        found = answer.json()["detections"]
        assert len(found) == row["detections"], (row, len(found))
        gt = [list(b.box) for b in image.boxes if b.class_id == entry["class_id"]]
        boxes = [(_pixels(d["bbox"], image.width, image.height), d["score"]) for d in found]
        matched = sum(m is not None for m in match(gt, boxes, iou)) if boxes else 0
        assert matched == row["matches"], (row, matched)
        total += matched
    assert total == recipe["summary"]["matches"]
    return total


def test_mined_recipes_reproduce_their_summary_and_the_cache_is_reused(
    sam_client: TestClient, shapes: SyntheticDataset
) -> None:
    started = sam_client.post("/agent_mining/jobs", json={"dataset_id": "shapes", "classes": [0, 1], **MINING})
    assert started.status_code == 200, started.text
    assert started.json()["job_id"].startswith("am_")
    blocked = sam_client.post("/agent_mining/cache/purge")  # the job is still loading SAM3
    assert (blocked.status_code, blocked.json()["detail"]) == (409, "agent_cache_purge_blocked_active_jobs")
    done = _wait(sam_client, started.json()["job_id"])
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    assert result["head_filter"] is False and result["images"] == 3
    for entry in result["classes"]:
        assert entry["recipe"]["clip_head"] is None and entry["recipe"]["steps"]
        assert any(w.startswith("no_head_filter") for w in entry["warnings"])
    matches = sum(_reproduces(sam_client, shapes, entry, MINING["iou_threshold"]) for entry in result["classes"])
    assert matches > 0, "the random tiny SAM3 matched nothing at IoU 0.1: the reproduction check would be empty"
    size = sam_client.get("/agent_mining/cache_size").json()
    assert size["bytes"] > 0 and size["files"] > 0 and size["max_bytes"] > 0
    again = _wait(sam_client, sam_client.post("/agent_mining/jobs", json={"dataset_id": "shapes", "classes": [0, 1],
                                                                         **MINING}).json()["job_id"])  # fmt: skip
    assert again["result"]["cache"]["misses"] == 0 and again["result"]["cache"]["hits"] > 0
    assert [c["recipe"] for c in again["result"]["classes"]] == [c["recipe"] for c in result["classes"]]
    assert sam_client.get("/agent_mining/results/latest").json()["job_id"] == again["job_id"]
    assert {j["job_id"] for j in sam_client.get("/agent_mining/jobs").json()} == {done["job_id"], again["job_id"]}
    purged = sam_client.post("/agent_mining/cache/purge").json()
    assert purged["status"] == "ok" and purged["deleted_files"] == size["files"]
    assert sam_client.get("/agent_mining/cache_size").json()["files"] == 0
    cancelled = sam_client.post("/agent_mining/jobs", json={"dataset_id": "shapes", **MINING}).json()["job_id"]
    assert sam_client.post(f"/agent_mining/jobs/{cancelled}/cancel").json()["status"] in ("cancelling", "cancelled")
    assert _wait(sam_client, cancelled)["status"] == "cancelled"


def test_a_given_head_is_tuned_and_applied(sam_client: TestClient, shapes: SyntheticDataset) -> None:
    uploads = Path(sam_client.get("/datasets").json()[0]["dataset_root"]).parents[1]
    meta = {"encoder_type": "clip", "clip_model": "ViT-B/32"}  # the tiny zoo's CLIP stands in for it
    write_head(uploads / "classifiers", "shapes.npz", classes=(*shapes.labelmap, "__bg_0"), meta=meta)
    body = {"dataset_id": "shapes", "classes": [0], "clip_head_classifier_path": "shapes.npz", **MINING}
    started = sam_client.post("/agent_mining/jobs", json=body)
    assert started.status_code == 200, started.text
    done = _wait(sam_client, started.json()["job_id"])
    assert done["status"] == "succeeded", done["error"]
    entry = done["result"]["classes"][0]
    head = entry["recipe"]["clip_head"]
    assert entry["head_filter"] is True and head["classifier_path"] == "shapes.npz" and head["auto_tuned"] is True
    _reproduces(sam_client, shapes, entry, MINING["iou_threshold"])
    saved = sam_client.post("/agent_mining/recipes", json={"dataset_id": "shapes", "class_id": 0, "label": "mined",
                                                           "recipe": entry["recipe"]})  # fmt: skip
    assert saved.status_code == 200, saved.text
    row = entry["recipe"]["summary"]["per_image"][0]
    image = _b64(next(i.path for i in shapes.images if i.key == row["image"]))
    chained = sam_client.post("/agent_mining/apply_image_chain",
                              json={"image_base64": image, "steps": [{"recipe_id": saved.json()["id"]}]})  # fmt: skip
    assert chained.status_code == 200, chained.text
    assert len(chained.json()["detections"]) == row["detections"]  # the saved copy of the head filters alike
    rescored = sam_client.post("/agent_mining/apply_image_chain", json={
        "image_base64": image, "steps": [{"recipe_id": saved.json()["id"]}],
        "dedupe": {"confidence": "clip_head_prob", "clip_head_recipe_id": saved.json()["id"]}}).json()  # fmt: skip
    assert [d["bbox"] for d in rescored["detections"]] == [d["bbox"] for d in chained.json()["detections"]]
    assert all(d["clip_head_prob"] is not None for d in rescored["detections"]), rescored["warnings"]


def test_refusals_queue_nothing(sam_client: TestClient, shapes: SyntheticDataset) -> None:
    image = _b64(shapes.images[0].path)
    refusals = [
        ("/agent_mining/jobs", {"dataset_id": "nope"}, 404, "sam3_dataset_not_found"),
        ("/agent_mining/jobs", {"dataset_id": "shapes", "classes": [9]}, 400, "agent_mining_no_classes_selected"),
        ("/agent_mining/jobs", {"dataset_id": "shapes", "clip_head_classifier_path": "../../x.npz"}, 400,
         "agent_clip_classifier_path_not_allowed"),
        ("/agent_mining/jobs", {"dataset_id": "shapes", "clip_head_classifier_path": "none.npz"}, 400,
         "agent_mining_clip_head_required"),
        ("/agent_mining/apply_image", {"image_base64": image, "recipe": {}}, 422, "recipe_required"),
        ("/agent_mining/apply_image", {"image_base64": image, "recipe": {"steps": []}}, 400, "agent_recipe_empty"),
        ("/agent_mining/apply_image", {"image_base64": image, "recipe": {"steps": [{"prompt": "x"}], "bad": 1}}, 400,
         "agent_recipe_invalid_schema"),
        ("/agent_mining/apply_image", {"image_base64": image, "sam_variant": "sam1",
         "recipe": {"steps": [{"prompt": "x"}]}}, 400, "agent_apply_requires_sam3"),
        ("/agent_mining/apply_image_chain", {"image_base64": image, "steps": []}, 422, "steps_required"),
        ("/agent_mining/apply_image_chain", {"image_base64": image, "steps": [
            {"enabled": False, "recipe": {"steps": [{"prompt": "x"}]}}]}, 422, "steps_required"),
        ("/agent_mining/apply_image_chain", {"image_base64": image, "steps": [{"recipe_id": "ar_0123abcd"}]}, 404,
         "agent_recipe_not_found"),
        ("/agent_mining/jobs/am_nope/cancel", {}, 404, "agent_mining_job_not_found"),
    ]  # fmt: skip
    for path, body, status, code in refusals:
        response = sam_client.post(path, json=body)
        assert (response.status_code, response.json()["detail"]) == (status, code), (path, response.text)
    assert sam_client.get("/agent_mining/jobs").json() == []
    assert sam_client.get("/agent_mining/results/latest").json()["detail"] == "agent_mining_result_not_found"
    assert sam_client.get("/agent_mining/jobs/am_nope").status_code == 404


def test_chain_merges_steps_per_class_and_across_classes(sam_client: TestClient, shapes: SyntheticDataset) -> None:
    image = _b64(shapes.images[0].path)
    recipe = {"steps": [{"prompt": "shape", "seed_threshold": 0.0}], "params": {"max_visual_seeds": 1,
              "max_results": 30}, "class_id": 0, "class_name": "a"}  # fmt: skip
    single = sam_client.post("/agent_mining/apply_image", json={"image_base64": image, "recipe": recipe}).json()
    steps = [{"recipe": recipe}, {"recipe": recipe, "override_class_name": "b", "dedupe_group": "g"}]
    per_class = sam_client.post("/agent_mining/apply_image_chain", json={"image_base64": image, "steps": steps})
    assert per_class.status_code == 200, per_class.text
    names = [d["class_name"] for d in per_class.json()["detections"]]
    assert names.count("a") == names.count("b") == len(single["detections"]) > 0
    assert "class_override_used" in per_class.json()["warnings"]
    crossed = sam_client.post("/agent_mining/apply_image_chain", json={
        "image_base64": image, "steps": [{**s, "dedupe_group": "g"} for s in steps],
        "dedupe": {"cross_class_enabled": True, "cross_class_iou": 0.5}}).json()  # fmt: skip
    assert len(crossed["detections"]) == len(single["detections"])  # the same boxes under two names merge

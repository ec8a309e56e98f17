from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.api.sam3.support import sam_client, shapes_image
from tests.datasets.zips import synthetic, zip_tree

__all__ = ["sam_client"]
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


def _upload(client: TestClient, tmp_path: Path, name: str, *, drop_val: bool = False) -> None:
    ds = synthetic(tmp_path / f"src-{name}" / name)
    if drop_val:
        for folder in ds.root.rglob("val"):
            shutil.rmtree(folder)
    archive = zip_tree(ds.root.parent, tmp_path / f"{name}.zip")
    with open(archive, "rb") as handle:
        response = client.post("/datasets/upload", files={"file": (archive.name, handle, "application/zip")})
    assert response.status_code == 200, response.text


def _wait(client: TestClient, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/sam3/train/jobs/{job_id}").json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_convert_draws_a_val_split_and_never_writes_the_source(sam_client: TestClient, tmp_path: Path) -> None:
    _upload(sam_client, tmp_path, "trainonly", drop_val=True)
    source = Path(sam_client.get("/datasets").json()[0]["dataset_root"])
    before = sorted(str(p) for p in source.rglob("*"))
    meta = sam_client.post("/sam3/datasets/trainonly/convert")
    assert meta.status_code == 200, meta.text
    body = meta.json()
    assert body["counts"]["train"] >= 1 and body["counts"]["val"] >= 1
    assert sum(body["counts"].values()) == 6 and Path(body["coco_val_json"]).is_file()
    assert sorted(str(p) for p in source.rglob("*")) == before
    listed = {d["id"]: d for d in sam_client.get("/sam3/datasets").json()}
    assert listed["trainonly"]["converted"] is True
    classes = sam_client.get("/sam3/datasets/trainonly/classes").json()
    assert classes["classes"] == body["classes"] and len(classes["classes"]) == 3
    assert sam_client.get("/sam3/train/cache_size").json()["bytes"] > 0
    purged = sam_client.post("/sam3/train/cache/purge").json()
    assert purged["status"] == "ok" and purged["deleted_bytes"] > 0
    assert sam_client.get("/sam3/train/cache_size").json()["bytes"] == 0
    missing = sam_client.post("/sam3/datasets/nope/convert")
    assert (missing.status_code, missing.json()["detail"]) == (404, "sam3_dataset_not_found")
    assert sam_client.get("/sam3/train/jobs/nope").json()["detail"] == "sam3_job_not_found"
    bad = sam_client.post("/sam3/train/jobs", json={"dataset_id": "nope"})
    assert (bad.status_code, bad.json()["detail"]) == (404, "sam3_dataset_not_found")


def test_fine_tuning_lowers_the_loss_and_registers_a_usable_checkpoint(sam_client: TestClient, tmp_path: Path) -> None:
    _upload(sam_client, tmp_path, "shapes")
    started = sam_client.post(
        "/sam3/train/jobs",
        json={"dataset_id": "shapes", "max_epochs": 4, "train_batch_size": 4, "lr_scale": 10, "run_name": "t"},
    )
    assert started.status_code == 200, started.text
    job = _wait(sam_client, started.json()["job_id"])
    assert job["status"] == "succeeded", job
    losses = [row["train_loss"] for row in job["metrics"] if "train_loss" in row]
    assert len(losses) == 4 and losses[-1] < losses[0]
    run_id = job["result"]["run_id"]
    models = {m["id"]: m for m in sam_client.get("/sam3/models").json()}
    assert run_id in models and models[run_id]["label"] == "t"
    activated = sam_client.post("/sam3/models/activate", json={"checkpoint_path": models[run_id]["path"]})
    assert activated.json()["active"]["id"] == run_id
    image = shapes_image(64, 64, box=(8, 8, 40, 40))
    answer = sam_client.post("/sam3/text_prompt", json={"image_base64": image, "text_prompt": "x", "threshold": 0})
    assert answer.status_code == 200 and answer.json()["detections"]


def test_cancel_stops_between_steps_and_leaves_no_checkpoint(sam_client: TestClient, tmp_path: Path) -> None:
    _upload(sam_client, tmp_path, "shapes")
    job_id = sam_client.post("/sam3/train/jobs", json={"dataset_id": "shapes", "max_epochs": 500}).json()["job_id"]
    deadline = time.monotonic() + 300
    while sam_client.get(f"/sam3/train/jobs/{job_id}").json()["status"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    busy = sam_client.delete(f"/sam3/storage/runs/{job_id}")
    assert (busy.status_code, busy.json()["detail"]) == (409, "run_delete_blocked_active_job")
    assert sam_client.post(f"/sam3/train/jobs/{job_id}/cancel").status_code == 200
    assert _wait(sam_client, job_id)["status"] == "cancelled"
    assert [m["id"] for m in sam_client.get("/sam3/models").json()] == ["base"]

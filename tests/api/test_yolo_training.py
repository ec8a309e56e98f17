"""YOLO training over HTTP: preflight refusals leave nothing behind; a run trains, is activated, predicts."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings
from tests.api.test_detectors import image_b64
from tests.datasets.zips import coco_zip, yolo_zip

pytestmark = pytest.mark.executor_matrix  # `make test-ray` runs these on a Ray cluster too


def upload(client: TestClient, path: Path, **data: str) -> dict[str, Any]:
    with open(path, "rb") as handle:
        response = client.post("/datasets/upload", files={"file": (path.name, handle, "application/zip")}, data=data)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_job(client: TestClient, path: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(client.get(path).json())
        if body["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


@pytest.fixture
def tiny_client(tmp_path: Path, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path) -> Iterator[TestClient]:
    assert tiny_zoo
    settings = Settings(data_dir=tmp_path / "data", device="cpu", model_zoo="tiny")
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, settings.uploads_dir / "zoo")
    with TestClient(create_app(settings)) as client:
        yield client


def test_preflight_refusals_queue_nothing(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path)
    upload(client, archive)
    cases = [
        ({"dataset_id": "shapes"}, 400, "yolo_tos_required"),
        ({"accept_tos": True}, 422, "dataset_id_or_root_required"),
        ({"dataset_id": "missing", "accept_tos": True}, 404, "dataset_not_found"),
        ({"dataset_id": "../shapes", "accept_tos": True}, 400, "invalid_id"),
        ({"dataset_root": "/etc", "accept_tos": True}, 400, "invalid_relative_path"),
        ({"dataset_id": "shapes", "accept_tos": True, "task": "segment"}, 400, "yolo_seg_requires_polygons"),
        ({"dataset_id": "shapes", "accept_tos": True, "variant": "yolov99"}, 400, "yolo_variant_unknown"),
    ]
    for body, status, code in cases:
        response = client.post("/yolo/train/jobs", json=body)
        assert (response.status_code, response.json().get("detail")) == (status, code), (body, response.text)
    assert client.get("/yolo/train/jobs").json() == []
    assert not list((settings.uploads_dir / "yolo_runs").glob("*"))
    missing = client.get("/yolo/train/jobs/nope")
    assert (missing.status_code, missing.json()["detail"]) == (404, "yolo_job_not_found")


def test_train_from_scratch_autoactivates_and_predicts(tiny_client: TestClient, tmp_path: Path) -> None:
    client = tiny_client
    archive, ds = yolo_zip(tmp_path)
    upload(client, archive)
    started = client.post(
        "/yolo/train/jobs",
        json={
            "dataset_id": "shapes",
            "accept_tos": True,
            "from_scratch": True,
            "epochs": 2,
            "img_size": 64,
            "batch": 4,
        },
    )
    assert started.status_code == 200, started.text
    job = wait_job(client, f"/yolo/train/jobs/{started.json()['job_id']}")
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1.0 and [row["epoch"] for row in job["metrics"]] == [1, 2]
    assert "metrics/mAP50(B)" in job["metrics"][-1]
    run_id = job["job_id"]
    active = client.get("/yolo/active").json()
    assert active["run_id"] == run_id and active["labelmap"] == list(ds.labelmap)
    runs = client.get("/yolo/runs").json()
    assert runs[0]["run_id"] == run_id and runs[0]["status"] == "succeeded" and runs[0]["is_active"]
    assert runs[0]["artifacts"]["best.pt"] and runs[0]["artifacts"]["metrics.json"]
    run_dir = Path(job["result"]["run_dir"])
    assert not (run_dir / "train").exists() and not (run_dir / "dataset").exists()  # pruned
    prediction = client.post("/yolo/predict_full", json={"image_base64": image_b64(64, 64), "conf": 0.0}).json()
    assert prediction["labelmap"] == list(ds.labelmap)


def test_cancel_mid_training_and_coco_dataset_is_staged(tiny_client: TestClient, tmp_path: Path) -> None:
    client = tiny_client
    meta = upload(client, coco_zip(tmp_path))
    started = client.post(
        "/yolo/train/jobs",
        json={
            "dataset_id": meta["id"],
            "accept_tos": True,
            "from_scratch": True,
            "epochs": 500,
            "img_size": 64,
            "batch": 2,
            "auto_activate": True,
        },
    ).json()
    path = f"/yolo/train/jobs/{started['job_id']}"
    deadline = time.monotonic() + 120
    while not client.get(path).json()["metrics"]:  # the COCO dataset was staged as YOLO and trains
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert client.post(path + "/cancel").json()["status"] in ("cancelling", "cancelled")
    job = wait_job(client, path, timeout=120)
    assert job["status"] == "cancelled"
    assert client.get("/yolo/active").json() == {}  # a cancelled run is not activated
    again = client.post(path + "/cancel")
    assert (again.status_code, again.json()["detail"]) == (409, "job_not_cancellable")


@pytest.mark.slow
def test_from_scratch_training_learns_the_synthetic_shapes(tiny_client: TestClient, tmp_path: Path) -> None:
    """The figure the issue asks for: validation mAP50 of a from-scratch tiny YOLO after 20 CPU epochs."""
    from tator.zoo.synthetic import make_detection_dataset
    from tests.datasets.zips import zip_tree

    ds = make_detection_dataset(tmp_path / "src" / "shapes96", n_train=96, n_val=16, image_size=128, seed=0)
    upload(tiny_client, zip_tree(ds.root.parent, tmp_path / "shapes96.zip"))
    started = tiny_client.post(
        "/yolo/train/jobs",
        json={
            "dataset_id": "shapes96",
            "accept_tos": True,
            "from_scratch": True,
            "epochs": 20,
            "img_size": 128,
            "batch": 16,
            "augmentations": {"mosaic": 0, "warmup_epochs": 1, "optimizer": "AdamW", "lr0": 0.005},
        },
    )
    assert started.status_code == 200, started.text
    job = wait_job(tiny_client, f"/yolo/train/jobs/{started.json()['job_id']}", timeout=900)
    assert job["status"] == "succeeded", job["error"]
    map50 = job["result"]["metrics"]["metrics/mAP50(B)"]
    print(f"from-scratch tiny YOLO, 20 epochs: validation mAP50 = {map50:.3f}")
    assert map50 > 0.5
    # the trained model, auto-activated, finds the shapes of a validation image
    image = ds.root / "val" / "images" / sorted(p.name for p in (ds.root / "val" / "images").iterdir())[0]
    import base64

    body = tiny_client.post(
        "/yolo/predict_full", json={"image_base64": base64.b64encode(image.read_bytes()).decode(), "conf": 0.25}
    ).json()
    assert len(body["detections"]) >= 1


def test_training_options_are_allowlisted(client: TestClient) -> None:
    response = client.post(
        "/yolo/train/jobs", json={"dataset_id": "x", "accept_tos": True, "augmentations": {"project": "/tmp/elsewhere"}}
    )
    assert response.status_code == 422


def test_a_run_in_training_cannot_be_deleted(tiny_client: TestClient, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path)
    upload(tiny_client, archive)
    job = tiny_client.post(
        "/yolo/train/jobs",
        json={
            "dataset_id": "shapes",
            "accept_tos": True,
            "from_scratch": True,
            "epochs": 500,
            "img_size": 64,
            "batch": 2,
        },
    ).json()
    deadline = time.monotonic() + 60
    while tiny_client.get(f"/yolo/train/jobs/{job['job_id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    while not any(r["run_id"] == job["job_id"] for r in tiny_client.get("/yolo/runs").json()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    blocked = tiny_client.delete(f"/yolo/runs/{job['job_id']}")
    assert (blocked.status_code, blocked.json()["detail"]) == (409, "run_delete_blocked_active_job")
    tiny_client.post(f"/yolo/train/jobs/{job['job_id']}/cancel")
    assert wait_job(tiny_client, f"/yolo/train/jobs/{job['job_id']}")["status"] == "cancelled"
    assert tiny_client.delete(f"/yolo/runs/{job['job_id']}").json()["status"] == "deleted"

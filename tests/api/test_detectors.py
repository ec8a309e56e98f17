"""Detector routes against the tiny zoo's real YOLO and RF-DETR checkpoints."""

from __future__ import annotations

import base64
import io
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tator.app import create_app
from tator.settings import Settings

CLASSES = ["red_square", "green_circle", "blue_triangle"]


def image_b64(width: int, height: int, seed: int = 0) -> str:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def make_run(root: Path, run_id: str, weights: Path, weights_name: str) -> None:
    run = root / run_id
    run.mkdir(parents=True)
    shutil.copy(weights, run / weights_name)
    (run / "labelmap.txt").write_text("\n".join(CLASSES) + "\n")
    record = {
        "run_id": run_id,
        "run_name": f"tiny {run_id}",
        "status": "succeeded",
        "created_at": time.time(),
        "labelmap": CLASSES,
        "task": "detect",
        "variant": "tiny",
        "metrics": {"map50": 0.5},
    }
    (run / "run.json").write_text(json.dumps(record))


@pytest.fixture
def detector_client(tmp_path: Path, tiny_zoo: dict[str, Path]) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", device="cpu")
    make_run(settings.uploads_dir / "yolo_runs", "run1", tiny_zoo["yolo"], "best.pt")
    make_run(settings.uploads_dir / "rfdetr_runs", "rf1", tiny_zoo["rfdetr"], "checkpoint_best_total.pth")
    with TestClient(create_app(settings)) as client:
        yield client


def test_predict_requires_an_active_run(detector_client: TestClient) -> None:
    for family in ("yolo", "rfdetr"):
        response = detector_client.post(f"/{family}/predict_full", json={"image_base64": image_b64(64, 64)})
        assert (response.status_code, response.json()["detail"]) == (412, f"{family}_active_missing")
        assert detector_client.get(f"/{family}/active").json() == {}


@pytest.mark.parametrize(("family", "run_id"), [("yolo", "run1"), ("rfdetr", "rf1")])
def test_activate_then_three_predict_modes(detector_client: TestClient, family: str, run_id: str) -> None:
    client = detector_client
    active = client.post(f"/{family}/active", json={"run_id": run_id}).json()
    assert active["run_id"] == run_id and active["labelmap"] == CLASSES
    runs = client.get(f"/{family}/runs").json()
    assert [r["is_active"] for r in runs] == [True]
    full = client.post(f"/{family}/predict_full", json={"image_base64": image_b64(320, 240), "conf": 0.0001}).json()
    assert full["labelmap"] == CLASSES and full["image_token"]
    assert len(full["detections"]) > 0
    for det in full["detections"]:
        x, y, w, h = det["bbox"]
        assert 0 <= x <= 320 and 0 <= y <= 240 and w >= 0 and h >= 0
        assert det["class_name"] == CLASSES[det["class_id"]]
    token = full["image_token"]
    region = client.post(
        f"/{family}/predict_region",
        json={"image_token": token, "region": [100, 50, 128, 128], "conf": 0.0001, "center_only": True},
    ).json()
    for det in region["detections"]:
        x, y, w, h = det["bbox"]
        assert 100 <= x + w / 2 <= 228 and 50 <= y + h / 2 <= 178
    windowed = client.post(
        f"/{family}/predict_windowed", json={"image_token": token, "slice_size": 128, "overlap": 0.2, "conf": 0.0001}
    ).json()
    assert windowed["warnings"] is None and len(windowed["detections"]) > 0
    assert client.get("/models").json()["total"] == 1  # one load shared by all three calls


def test_clamping_warnings_and_region_errors(detector_client: TestClient) -> None:
    client = detector_client
    client.post("/yolo/active", json={"run_id": "run1"})
    body = client.post(
        "/yolo/predict_full", json={"image_base64": image_b64(64, 64), "conf": 3, "iou": -1, "max_det": 99999}
    ).json()
    assert set(body["warnings"]) == {"conf_clamped", "iou_clamped", "max_det_clamped"}
    missing = client.post("/yolo/predict_region", json={"image_base64": image_b64(64, 64)})
    assert (missing.status_code, missing.json()["detail"]) == (400, "region_required")
    cropped = client.post(
        "/yolo/predict_region",
        json={"image_base64": image_b64(32, 32), "region": [10, 10, 40, 40], "image_is_cropped": True},
    ).json()
    assert {"full_size_missing", "region_crop_mismatch"} <= set(cropped["warnings"])
    stale = client.post("/yolo/predict_full", json={"image_token": "0" * 32})
    assert (stale.status_code, stale.json()["detail"]) == (404, "image_token_not_found")


def test_expected_labelmap_remaps_or_warns(detector_client: TestClient) -> None:
    client = detector_client
    client.post("/yolo/active", json={"run_id": "run1"})
    image = image_b64(96, 96)
    reordered = ["Blue Triangle", "RED-square", "green circle"]
    body = client.post(
        "/yolo/predict_full", json={"image_base64": image, "conf": 0.0001, "expected_labelmap": reordered}
    ).json()
    assert body["warnings"] == ["labelmap_remapped"]
    index = {"red_square": 1, "green_circle": 2, "blue_triangle": 0}
    assert all(det["class_id"] == index[det["class_name"]] for det in body["detections"])
    other = client.post("/yolo/predict_full", json={"image_base64": image, "expected_labelmap": ["cat", "dog"]})
    assert other.json()["warnings"] == ["labelmap_mismatch"]


def test_runs_summary_download_delete_clears_active(detector_client: TestClient) -> None:
    client = detector_client
    client.post("/yolo/active", json={"run_id": "run1"})
    client.post("/yolo/predict_full", json={"image_base64": image_b64(64, 64)})
    summary = client.get("/yolo/runs/run1/summary").json()
    assert summary["labelmap"] == CLASSES and summary["metrics"] == {"map50": 0.5}
    archive = client.get("/yolo/runs/run1/download")
    assert archive.headers["content-type"] == "application/zip"
    import zipfile

    names = set(zipfile.ZipFile(io.BytesIO(archive.content)).namelist())
    assert {"best.pt", "run.json", "labelmap.txt"} <= names
    assert client.delete("/yolo/runs/run1").json() == {"status": "deleted", "run_id": "run1"}
    assert client.get("/yolo/active").json() == {}
    assert client.get("/models").json()["total"] == 0
    gone = client.post("/yolo/predict_full", json={"image_base64": image_b64(64, 64)})
    assert gone.json()["detail"] == "yolo_active_missing"


@pytest.mark.parametrize("run_id", ["../x", "a/b", "..", "x" * 300, "run\u00e9"])
def test_bad_run_ids_answer_invalid_run_id(detector_client: TestClient, run_id: str) -> None:
    for family in ("yolo", "rfdetr"):
        response = detector_client.post(f"/{family}/active", json={"run_id": run_id})
        assert (response.status_code, response.json()["detail"]) == (400, "invalid_run_id"), family


@pytest.mark.parametrize(("family", "weights"), [("yolo", "best.pt"), ("rfdetr", "checkpoint_best_total.pth")])
def test_deleting_a_run_that_is_no_longer_active_unloads_it(
    detector_client: TestClient, tiny_zoo: dict[str, Path], family: str, weights: str
) -> None:
    client = detector_client
    root = Path(client.app.state.tator.layout.root(f"{family}_runs"))  # type: ignore[attr-defined]
    make_run(root, "second", tiny_zoo[family], weights)
    first = "run1" if family == "yolo" else "rf1"
    for run_id in (first, "second"):  # both end up resident; `second` stays active
        client.post(f"/{family}/active", json={"run_id": run_id})
        assert client.post(f"/{family}/predict_full", json={"image_base64": image_b64(64, 64)}).status_code == 200
    resident = [m["key"] for m in client.get("/models").json()["items"]]
    assert len(resident) == 2
    assert client.delete(f"/{family}/runs/{first}").json() == {"status": "deleted", "run_id": first}
    left = [m["key"] for m in client.get("/models").json()["items"]]
    assert len(left) == 1 and f"/second/{weights}" in left[0]
    assert client.get(f"/{family}/active").json()["run_id"] == "second"

    missing = detector_client.post("/yolo/active", json={"run_id": "nope"})
    assert (missing.status_code, missing.json()["detail"]) == (404, "yolo_run_not_found")


@pytest.mark.parametrize("route", ["GET /runs/{}/summary", "GET /runs/{}/download", "DELETE /runs/{}"])
def test_run_routes_refuse_unsafe_ids_with_invalid_run_id(detector_client: TestClient, route: str) -> None:
    method, path = route.split(" ")
    for family in ("yolo", "rfdetr"):
        for run_id in ("%2E%2E", "x" * 300, "a%20b", "%2E"):
            response = detector_client.request(method, f"/{family}" + path.format(run_id))
            assert (response.status_code, response.json()["detail"]) == (400, "invalid_run_id"), (family, run_id)


def test_detector_default_mode(detector_client: TestClient) -> None:
    client = detector_client
    assert client.get("/detectors/default").json() == {"mode": "rfdetr"}
    assert client.post("/detectors/default", json={"mode": "YOLO"}).json() == {"mode": "yolo"}
    assert client.get("/detectors/default").json() == {"mode": "yolo"}
    bad = client.post("/detectors/default", json={"mode": "sam"})
    assert (bad.status_code, bad.json()["detail"]) == (400, "detector_mode_invalid")
    assert {v["id"] for v in client.get("/yolo/variants", params={"task": "segment"}).json()} >= {"yolov8n-seg"}
    assert any(v["id"] == "rfdetr-nano" for v in client.get("/rfdetr/variants").json())


def test_clamp_warnings_carry_the_value_used(detector_client: TestClient) -> None:
    client = detector_client
    client.post("/yolo/active", json={"run_id": "run1"})
    body = client.post(
        "/yolo/predict_windowed", json={"image_base64": image_b64(96, 96), "slice_size": 5, "conf": 7, "max_det": 0}
    ).json()
    assert set(body["warnings"]) == {"slice_size_clamped", "conf_clamped", "max_det_clamped"}
    assert body["clamped"] == {"slice_size": 32.0, "conf": 1.0, "max_det": 1.0}
    plain = client.post("/yolo/predict_full", json={"image_base64": image_b64(64, 64)}).json()
    assert plain["clamped"] is None


@pytest.mark.parametrize("family", ["yolo", "rfdetr"])
def test_windowed_predict_refuses_too_many_windows_before_model_work(detector_client: TestClient, family: str) -> None:
    client = detector_client
    client.post(f"/{family}/active", json={"run_id": "run1" if family == "yolo" else "rf1"})
    body = {"image_base64": image_b64(480, 480), "slice_size": 32, "overlap": 0.9}  # ~22,500 windows
    response = client.post(f"/{family}/predict_windowed", json=body)
    assert (response.status_code, response.json()["detail"]) == (422, "too_many_windows")
    assert response.json()["windows"] > response.json()["max_windows"] == 1024
    assert client.get("/models").json()["total"] == 0  # the model was never loaded
    assert client.get("/healthz").status_code == 200


def test_window_bound_comes_from_the_settings(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    """TATOR_MAX_WINDOWS_PER_REQUEST bounds the windowed predict of each family; the other modes plan no windows."""
    settings = Settings(data_dir=tmp_path / "data", device="cpu", max_windows_per_request=4)
    make_run(settings.uploads_dir / "yolo_runs", "run1", tiny_zoo["yolo"], "best.pt")
    make_run(settings.uploads_dir / "rfdetr_runs", "rf1", tiny_zoo["rfdetr"], "checkpoint_best_total.pth")
    with TestClient(create_app(settings)) as client:
        for family, run_id in (("yolo", "run1"), ("rfdetr", "rf1")):
            client.post(f"/{family}/active", json={"run_id": run_id}).raise_for_status()
            image = image_b64(128, 128)
            body = {"image_base64": image, "slice_size": 32, "overlap": 0.0}  # 16 windows
            refused = client.post(f"/{family}/predict_windowed", json=body)
            assert (refused.status_code, refused.json()["detail"]) == (422, "too_many_windows")
            assert (refused.json()["windows"], refused.json()["max_windows"]) == (16, 4)
            allowed = client.post(f"/{family}/predict_windowed", json={**body, "slice_size": 64})  # 4 windows
            assert allowed.status_code == 200, allowed.json()
            assert client.post(f"/{family}/predict_full", json={"image_base64": image}).status_code == 200


@pytest.mark.parametrize("family", ["yolo", "rfdetr"])
def test_runs_and_active_carry_the_contracts_fields(detector_client: TestClient, family: str) -> None:
    run_id = {"yolo": "run1", "rfdetr": "rf1"}[family]
    (row,) = detector_client.get(f"/{family}/runs").json()
    contract = {"run_id", "run_name", "status", "message", "created_at", "updated_at", "dataset_id", "dataset_label",
                "artifacts", "is_active"}  # fmt: skip
    assert contract <= set(row), contract - set(row)
    assert row["message"] is None and row["dataset_id"] is None  # run.json without them: null, not missing
    active = detector_client.post(f"/{family}/active", json={"run_id": run_id}).json()
    for key in ("run_id", "run_name", "best_path", "labelmap_path", "task", "variant", "created_at", "updated_at"):
        assert key in active, key
    assert Path(active["labelmap_path"]).read_text().split() == CLASSES
    assert detector_client.get(f"/{family}/active").json()["labelmap_path"] == active["labelmap_path"]


@pytest.mark.parametrize(("family", "run_id"), [("yolo", "run1"), ("rfdetr", "rf1")])
def test_predict_answers_with_server_timing(detector_client: TestClient, family: str, run_id: str) -> None:
    """`infer` is the forward pass alone, `app` the whole request up to the answer: a client tells the model's
    time from the server's own in one request (tools/bench/predict_overhead.py does)."""
    client = detector_client
    client.post(f"/{family}/active", json={"run_id": run_id}).raise_for_status()
    response = client.post(
        f"/{family}/predict_full",
        json={"image_base64": image_b64(320, 240)},
        headers={"Origin": "http://localhost:3000"},
    )
    response.raise_for_status()
    parts = response.headers["server-timing"].split(",")
    metrics = {part.split(";")[0].strip(): float(part.split("dur=")[1]) for part in parts}
    assert set(metrics) == {"infer", "app"}
    assert 0 < metrics["infer"] < metrics["app"]
    assert "server-timing" in response.headers["access-control-expose-headers"].lower()
    assert client.get("/healthz").headers["server-timing"].startswith("app;dur=")

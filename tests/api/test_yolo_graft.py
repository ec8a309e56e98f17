"""YOLO head graft over HTTP: preflight refusals write nothing, a real graft keeps the base outputs, the bundle
round-trips through export/import/activate/predict, cancel works, and a hostile bundle is refused unrun."""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.errors import YoloBundleInvalid, YoloBundleUnsafe
from tator.settings import Settings
from tator.yolo import graft_checkpoint
from tator.yolo.graft_job import base_outputs_identical
from tator.zoo.synthetic import make_detection_dataset
from tests.api.test_detectors import CLASSES, image_b64, make_run
from tests.api.test_yolo_training import upload, wait_job
from tests.datasets.zips import zip_tree

pytestmark = pytest.mark.executor_matrix  # `make test-ray` runs these on a Ray cluster too

GRAFT_CLASSES = ("Red Square", "yellow_diamond", "magenta_hexagon")  # one already in the base (normalised)
FAST = {"epochs": 1, "img_size": 64, "batch": 4, "accept_tos": True}


@pytest.fixture
def settings_graft(tmp_path: Path, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path) -> Settings:
    settings = Settings(data_dir=tmp_path / "data", device="cpu", model_zoo="tiny")
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, settings.uploads_dir / "zoo")
    make_run(settings.uploads_dir / "yolo_runs", "base1", tiny_zoo["yolo"], "best.pt")
    return settings


@pytest.fixture
def graft_client(settings_graft: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings_graft)) as client:
        yield client


def upload_classes(client: TestClient, tmp: Path, name: str, classes: tuple[str, ...], n_train: int = 6) -> None:
    ds = make_detection_dataset(tmp / f"src-{name}" / name, classes=classes, n_train=n_train, n_val=2, image_size=64)
    upload(client, zip_tree(ds.root.parent, tmp / f"{name}.zip"))


def runs_dir(settings: Settings) -> Path:
    return settings.uploads_dir / "yolo_runs"


def audit(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    text = (runs_dir(settings) / run_id / "head_graft_audit.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def load(path: Path) -> Any:
    ckpt = graft_checkpoint.load_restricted(path, YoloBundleUnsafe)
    return graft_checkpoint.detection_model(ckpt, YoloBundleInvalid).float().eval()


def test_dry_run_reports_overlap_and_refusals(graft_client: TestClient, tmp_path: Path) -> None:
    upload_classes(graft_client, tmp_path, "partial", GRAFT_CLASSES)
    upload_classes(graft_client, tmp_path, "same", ("RED_SQUARE", "green circle"))
    body = graft_client.post("/yolo/head_graft/dry_run", json={"base_run_id": "base1", "dataset_id": "partial"})
    report = body.json()
    assert body.status_code == 200 and report["ok"] is True, report
    assert (report["base_task"], report["base_label_count"], report["new_label_count"]) == ("detect", 3, 3)
    assert report["overlap"] == ["redsquare"] and report["new_classes"] == ["yellow_diamond", "magenta_hexagon"]
    assert report["yolo_ready"] and report["dataset_task"] == "detect"
    assert any(w.startswith("yolo_labelmap_overlap_dropped") for w in report["warnings"])
    full = graft_client.post("/yolo/head_graft/dry_run", json={"base_run_id": "base1", "dataset_id": "same"}).json()
    assert full["ok"] is False and full["error"] == "yolo_labelmap_overlap" and full["new_classes"] == []
    missing = graft_client.post("/yolo/head_graft/dry_run", json={"base_run_id": "nope", "dataset_id": "same"})
    assert (missing.status_code, missing.json()["detail"]) == (404, "yolo_base_missing")


def test_start_refusals_write_nothing(graft_client: TestClient, settings_graft: Settings, tmp_path: Path) -> None:
    upload_classes(graft_client, tmp_path, "same", ("RED_SQUARE",))
    upload_classes(graft_client, tmp_path, "partial", GRAFT_CLASSES)
    (runs_dir(settings_graft) / "nobest").mkdir()
    (runs_dir(settings_graft) / "nobest" / "run.json").write_text(json.dumps({"labelmap": CLASSES}))
    make_run(runs_dir(settings_graft), "seg1", runs_dir(settings_graft) / "base1" / "best.pt", "best.pt")
    record = json.loads((runs_dir(settings_graft) / "seg1" / "run.json").read_text())
    (runs_dir(settings_graft) / "seg1" / "run.json").write_text(json.dumps({**record, "task": "segment"}))
    before = sorted(p.name for p in runs_dir(settings_graft).iterdir())
    ok = {"base_run_id": "base1", "dataset_id": "partial", "accept_tos": True}
    cases = [
        ({**ok, "accept_tos": False}, 400, "yolo_tos_required"),
        ({**ok, "base_run_id": "missing"}, 404, "yolo_base_missing"),
        ({**ok, "base_run_id": "nobest"}, 400, "yolo_base_missing_best"),
        ({**ok, "base_run_id": "seg1"}, 400, "yolo_graft_detect_only"),
        ({**ok, "dataset_id": "missing"}, 404, "dataset_not_found"),
        ({**ok, "dataset_id": "same"}, 400, "yolo_labelmap_overlap"),
        ({**ok, "run_name": "base1"}, 409, "yolo_run_exists"),
        ({**ok, "run_name": "../taken"}, 409, "yolo_run_exists"),  # sanitised to "taken", made below
        ({**ok, "run_name": "///"}, 400, "invalid_id"),
    ]
    (runs_dir(settings_graft) / "taken").mkdir()
    before.append("taken")
    for body, status, code in cases:
        response = graft_client.post("/yolo/head_graft/jobs", json=body)
        assert (response.status_code, response.json().get("detail")) == (status, code), (body, response.text)
    assert sorted(p.name for p in runs_dir(settings_graft).iterdir()) == sorted(before)
    assert graft_client.get("/yolo/head_graft/jobs").json() == []
    for path in ("/yolo/head_graft/jobs/nope", "/yolo/head_graft/jobs/nope/cancel"):
        response = graft_client.request("POST" if path.endswith("cancel") else "GET", path)
        assert (response.status_code, response.json()["detail"]) == (404, "job_not_found")
    not_graft = graft_client.get("/yolo/head_graft/jobs/base1/bundle")
    assert (not_graft.status_code, not_graft.json()["detail"]) == (404, "yolo_head_graft_not_found")


def test_graft_job_bundle_import_activate_predict(
    graft_client: TestClient, settings_graft: Settings, tmp_path: Path
) -> None:
    client = graft_client
    upload_classes(client, tmp_path, "partial", GRAFT_CLASSES)
    started = client.post("/yolo/head_graft/jobs", json={"base_run_id": "base1", "dataset_id": "partial",
                                                          "run_name": "graft one", **FAST})  # fmt: skip
    assert started.status_code == 200, started.text
    run_id = started.json()["job_id"]
    assert run_id == "graft_one"
    job = wait_job(client, f"/yolo/head_graft/jobs/{run_id}")
    assert job["status"] == "succeeded", job["error"]
    merged = [*CLASSES, "yellow_diamond", "magenta_hexagon"]
    assert job["result"]["labelmap"] == merged and job["result"]["base_outputs_identical"] is True
    assert job["result"]["sanity"]["class_ids_in_range"] is True
    base_model, graft_model = (
        load(runs_dir(settings_graft) / "base1" / "best.pt"),
        load(Path(job["result"]["best_path"])),
    )
    assert base_outputs_identical(base_model, graft_model, len(CLASSES), 64)  # raw boxes + base logits, bit for bit
    assert [(e["event"], e.get("status")) for e in audit(settings_graft, run_id)] == [
        ("status", "queued"), ("status", "running"), ("status", "succeeded"), ("activated", None)]  # fmt: skip
    active = client.get("/yolo/active").json()
    assert (
        active["run_id"] == run_id and active["labelmap"] == merged and active["head_graft"]["base_run_id"] == "base1"
    )
    prediction = client.post("/yolo/predict_full", json={"image_base64": image_b64(64, 64), "conf": 0.0}).json()
    assert prediction["labelmap"] == merged

    bundle = client.get(f"/yolo/head_graft/jobs/{run_id}/bundle")
    assert bundle.status_code == 200
    names = set(zipfile.ZipFile(io.BytesIO(bundle.content)).namelist())
    assert {"best.pt", "labelmap.txt", "head_graft_audit.jsonl", "run.json", "head_graft.yaml"} <= names
    files = {"file": ("bundle.zip", bundle.content, "application/zip")}
    imported = client.post("/yolo/head_graft/import", files=files, data={"run_name": "imported"})
    assert imported.status_code == 200, imported.text
    assert imported.json()["labelmap"] == merged and imported.json()["head_graft"]["imported_from"] == run_id
    again = client.post("/yolo/head_graft/import", files=files, data={"run_name": "imported"})
    assert (again.status_code, again.json()["detail"]) == (409, "yolo_run_exists")
    listed = {run["run_id"]: run for run in client.get("/yolo/runs").json()}
    assert listed["imported"]["status"] == "succeeded" and listed["imported"]["artifacts"]["best.pt"]
    assert client.post("/yolo/active", json={"run_id": "imported"}).status_code == 200
    again_pred = client.post("/yolo/predict_full", json={"image_base64": image_b64(64, 64), "conf": 0.0}).json()
    assert again_pred["labelmap"] == merged
    imported_model = load(runs_dir(settings_graft) / "imported" / "best.pt")
    assert base_outputs_identical(graft_model, imported_model, len(merged), 64)  # rebuilt exactly
    assert audit(settings_graft, "imported")[-1]["event"] == "imported"


def test_cancel_a_running_graft(graft_client: TestClient, settings_graft: Settings, tmp_path: Path) -> None:
    upload_classes(graft_client, tmp_path, "partial", GRAFT_CLASSES, n_train=8)
    body = {"base_run_id": "base1", "dataset_id": "partial", **FAST, "epochs": 300, "batch": 2}
    run_id = graft_client.post("/yolo/head_graft/jobs", json=body).json()["job_id"]
    path = f"/yolo/head_graft/jobs/{run_id}"
    deadline = time.monotonic() + 120
    while not graft_client.get(path).json()["metrics"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert graft_client.post(path + "/cancel").json()["status"] in ("cancelling", "cancelled")
    assert wait_job(graft_client, path, timeout=120)["status"] == "cancelled"
    statuses = [e.get("status") for e in audit(settings_graft, run_id)]
    assert statuses[:2] == ["queued", "running"] and statuses[-1] == "cancelled" and "cancelling" in statuses
    assert graft_client.get("/yolo/active").json() == {}
    assert json.loads((runs_dir(settings_graft) / run_id / "run.json").read_text())["status"] == "cancelled"
    again = graft_client.post(path + "/cancel")
    assert (again.status_code, again.json()["detail"]) == (409, "job_not_cancellable")
    incomplete = graft_client.get(path + "/bundle")
    assert (incomplete.status_code, incomplete.json()["detail"]) == (409, "yolo_head_graft_bundle_incomplete")


class _WritesAFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.target)!r}, 'w').write('pwned')",))


def test_hostile_bundles_are_refused_with_nothing_written(
    graft_client: TestClient, settings_graft: Settings, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"model": _WritesAFile(marker)}, evil)
    before = sorted(p.name for p in runs_dir(settings_graft).iterdir())
    traversal = zipfile.ZipInfo("../best.pt")
    cases: list[tuple[list[tuple[str | zipfile.ZipInfo, bytes]], str]] = [
        ([("best.pt", evil.read_bytes()), ("labelmap.txt", b"a\nb\n")], "yolo_bundle_unsafe"),
        ([(traversal, b"x"), ("labelmap.txt", b"a\n")], "yolo_bundle_unsafe"),
        ([("labelmap.txt", b"a\n")], "yolo_bundle_invalid"),
        ([("best.pt", b"not a checkpoint"), ("labelmap.txt", b"a\n")], "yolo_bundle_unsafe"),
    ]
    for entries, code in cases:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            for name, data in entries:
                zf.writestr(name, data)
        files = {"file": ("bundle.zip", buffer.getvalue(), "application/zip")}
        response = graft_client.post("/yolo/head_graft/import", files=files)
        assert (response.status_code, response.json()["detail"]) == (400, code), response.text
    not_zip = graft_client.post("/yolo/head_graft/import", files={"file": ("b.zip", b"plain text", "text/plain")})
    assert (not_zip.status_code, not_zip.json()["detail"]) == (400, "yolo_bundle_invalid")
    assert not marker.exists()
    assert sorted(p.name for p in runs_dir(settings_graft).iterdir()) == before  # no run, no staging dir left

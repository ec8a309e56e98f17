"""Calibration jobs over HTTP: refusals before queueing, a run on cached prepass candidates, the report bundle."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from tator.calibration.synthetic import candidate_record, make_candidates
from tator.storage.layout import Layout
from tator.zoo.synthetic import SyntheticDataset, make_detection_dataset


def _layout(client: TestClient) -> Layout:
    layout: Layout = client.app.state.tator.layout  # type: ignore[attr-defined]
    return layout


def install(client: TestClient, *, n_train: int = 48, prepass: str | None = "pp1", skip: int = 0) -> SyntheticDataset:
    """A labelled dataset in the registry and (unless `prepass` is None) a cached prepass of its images."""
    layout = _layout(client)
    ds = make_detection_dataset(layout.root("dataset_registry") / "shapes", n_train=n_train, n_val=12, image_size=256)
    if prepass is not None:
        rng = np.random.default_rng(0)
        records = []
        for image in ds.images[skip:]:
            truths = [(b.class_id, tuple(b.box)) for b in image.boxes]
            cands = make_candidates(rng, truths, (image.width, image.height))  # type: ignore[arg-type]
            records.append({"image": image.key, "detections": [candidate_record(c, ds.labelmap) for c in cands]})
        stored = client.post(f"/calibration/prepass/{prepass}/records", json={"records": records})
        assert stored.status_code == 200, stored.text
        assert stored.json() == {"prepass_id": prepass, "written": len(records), "images": len(records)}
    return ds


def wait(client: TestClient, job_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(client.get(f"/calibration/jobs/{job_id}").json())
        if body["status"] in ("completed", "failed", "cancelled", "interrupted"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


FAST = {"xgb_rounds": 60, "ablation": False, "enable_yolo": False, "enable_rfdetr": False,
        "extra_sources": ["detector", "similarity"]}  # fmt: skip


def test_bad_requests_are_refused_before_anything_is_queued(client: TestClient) -> None:
    install(client)
    base = {"dataset_id": "shapes", "prepass_id": "pp1"}
    off = {"enable_yolo": False, "enable_rfdetr": False, "enable_sam3_text": False, "enable_sam3_similarity": False}
    cases = [
        ({**base, "dataset_id": "nope"}, 404, "dataset_not_found"),
        ({**base, "prepass_id": "missing"}, 404, "calibration_prepass_not_found"),
        ({**base, "prepass_id": "../x"}, 400, "invalid_id"),
        ({**base, **off}, 400, "calibration_no_source_enabled"),
        ({**base, "classifier_id": "nope.npz"}, 404, "classifier_not_found"),
        ({**base, "calibration_model": "forest"}, 422, None),
    ]
    bad_store = client.post("/calibration/prepass/..%2Fx/records", json={"records": [{"image": "a", "detections": []}]})
    assert bad_store.status_code in (400, 404)
    assert client.post("/calibration/prepass/pp2/records", json={"records": []}).status_code == 422
    for body, status, code in cases:
        response = client.post("/calibration/jobs", json=body)
        assert response.status_code == status, (body, response.text)
        if code:
            assert response.json()["detail"] == code, body
    unlabelled = _layout(client).root("dataset_registry") / "shapes"
    for label in unlabelled.glob("*/labels/*.txt"):
        label.write_text("")
    response = client.post("/calibration/jobs", json=base)
    assert (response.status_code, response.json()["detail"]) == (400, "calibration_labels_missing")
    assert client.get("/calibration/jobs").json() == []
    missing = client.get("/calibration/jobs/cal_00000000")
    assert (missing.status_code, missing.json()["detail"]) == (404, "calibration_job_not_found")


def test_calibration_job_runs_on_cached_prepass_and_bundles_its_report(client: TestClient) -> None:
    install(client)
    started = client.post("/calibration/jobs", json={"dataset_id": "shapes", "prepass_id": "pp1", **FAST})
    assert started.status_code == 200, started.text
    job_id = started.json()["job_id"]
    assert job_id.startswith("cal_") and len(job_id) == 12
    job = wait(client, job_id)
    assert job["status"] == "completed", job["error"]
    metrics = job["result"]["metrics"]
    assert metrics["tp"] > 0 and 0 < metrics["f1"] <= 1 and metrics["fp"] + metrics["fn"] >= 0
    assert job["request"]["sources"] == ["sam3_text", "sam3_similarity", "detector", "similarity"]
    assert 0 < job["result"]["recall_ceiling"] <= 1
    bundle = client.get(f"/calibration/jobs/{job_id}/artifacts/report_bundle")
    assert bundle.status_code == 200 and bundle.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert {"report.json", "report.md", "pr_curve.png", "calibrator/calibrator.json"} <= set(names)
    cancelled = client.post(f"/calibration/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "completed"  # finished: unchanged
    assert [j["job_id"] for j in client.get("/calibration/jobs").json()] == [job_id]
    assert Path(job["result"]["calibrator_dir"]).is_dir()


def test_images_without_a_prepass_record_fail_the_job(client: TestClient) -> None:
    install(client, n_train=20, skip=3)
    started = client.post("/calibration/jobs", json={"dataset_id": "shapes", "prepass_id": "pp1", **FAST})
    job = wait(client, started.json()["job_id"])
    assert job["status"] == "failed" and job["error"]["code"] == "calibration_candidates_missing"
    missing = client.get(f"/calibration/jobs/{job['job_id']}/artifacts/report_bundle")
    assert (missing.status_code, missing.json()["detail"]) == (404, "calibration_report_missing")


def test_without_stored_records_the_job_plans_the_dataset_prepass_first(client: TestClient) -> None:
    install(client, n_train=6, prepass=None)
    response = client.post("/calibration/jobs", json={"dataset_id": "shapes", "enable_sam3_text": False,
                                                      "enable_sam3_similarity": False})  # fmt: skip
    # no active YOLO / RF-DETR run on this server: refused by the prepass planner before anything is queued
    assert (response.status_code, response.json()["detail"]) == (412, "prepass_sources_unavailable"), response.text
    assert client.get("/calibration/jobs").json() == []

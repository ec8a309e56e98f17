"""A calibration job without stored prepass records runs the dataset prepass itself (tiny zoo, random models)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tator.storage.layout import Layout
from tator.zoo.synthetic import make_detection_dataset
from tests.api.test_calibration import wait
from tests.prepass.support import prepass_client

__all__ = ["prepass_client"]


def test_calibration_runs_the_dataset_prepass_as_its_first_step(prepass_client: TestClient) -> None:
    layout: Layout = prepass_client.app.state.tator.layout  # type: ignore[attr-defined]
    ds = make_detection_dataset(layout.root("dataset_registry") / "calds", n_train=9, n_val=3, image_size=128)
    body = {"dataset_id": "calds", "enable_sam3_text": False, "enable_sam3_similarity": False, "ablation": False,
            "xgb_rounds": 20, "prepass_config": {"detector_conf": 0.0001, "sahi_window_size": 96}}  # fmt: skip
    started = prepass_client.post("/calibration/jobs", json=body)
    assert started.status_code == 200, started.text
    job = wait(prepass_client, started.json()["job_id"], timeout=600)
    assert job["request"]["prepass"]["config"]["detector_conf"] == 0.0001  # the request's knobs reach the prepass
    assert not job["request"]["prepass"]["config"]["enable_sam3_text"]
    refused = prepass_client.post("/calibration/jobs", json={**body, "prepass_config": {"no_such_knob": 1}})
    assert refused.status_code == 422
    records = list((layout.uploads_dir / "prepass_cache").rglob("*.json"))
    assert len(records) >= len(ds.images)  # every image went through the prepass (and its cache)
    # random tiny detectors may propose nothing that matches the shapes: then the job says so with its code
    assert job["status"] == "completed" or job["error"]["code"] == "calibration_candidates_unusable", job

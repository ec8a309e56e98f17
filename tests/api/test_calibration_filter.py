"""`POST /qwen/prepass` with `calibration_job_id`: the job's calibrator filters the candidates."""

from __future__ import annotations

import shutil
from dataclasses import replace

from fastapi.testclient import TestClient

from tator.calibration.models import ModelOptions
from tator.calibration.pipeline import CalibrationOptions, fit
from tator.calibration.synthetic import make_pool
from tator.storage.layout import Layout
from tests.prepass.support import CLASSES, FAST, image_b64, prepass_client

__all__ = ["prepass_client"]
RENAMED = {"detector": "yolo", "similarity": "rfdetr"}  # the synthetic sources as the tiny zoo's detectors
BODY = {**FAST, "enable_sam3_text": False, "enable_sam3_similarity": False, "labelmap": CLASSES}


def _install_calibrator(client: TestClient, job_id: str) -> None:
    pool = [
        replace(
            s,
            candidates=[
                replace(c, score_by_source={RENAMED.get(k, k): v for k, v in c.score_by_source.items()})
                for c in s.candidates
            ],
        )  # fmt: skip
        for s in make_pool(90, seed=4)
    ]
    fitted = fit(pool, CLASSES, CalibrationOptions(model=ModelOptions(xgb_rounds=40, threads=1), ablation=False))
    layout: Layout = client.app.state.tator.layout  # type: ignore[attr-defined]
    fitted.calibrator.save(layout.root("calibration_jobs") / job_id / "calibrator")


def test_a_calibration_job_filters_prepass_candidates(prepass_client: TestClient) -> None:
    _install_calibrator(prepass_client, "cal_0000abcd")
    body = {**BODY, "image_base64": image_b64(3)}
    plain = prepass_client.post("/qwen/prepass", json=body).json()
    filtered = prepass_client.post("/qwen/prepass", json={**body, "calibration_job_id": "cal_0000abcd"}).json()
    note = next(w for w in filtered["warnings"] if w.startswith("calibration:cal_0000abcd:"))
    kept, rejected = (int(part.split("=")[1]) for part in note.split(":")[2:4])
    assert kept == len(filtered["detections"]) and kept + rejected == len(plain["detections"]) > 0
    boxes = [d["bbox_xyxy_px"] for d in plain["detections"]]
    for d in filtered["detections"]:
        assert d["bbox_xyxy_px"] in boxes and d["ensemble_prob"] >= d["ensemble_threshold"]
    assert all(d["ensemble_prob"] is None for d in plain["detections"])


def test_an_unknown_calibration_job_is_refused(prepass_client: TestClient) -> None:
    body = {**BODY, "image_base64": image_b64(3), "calibration_job_id": "cal_ffffffff"}
    response = prepass_client.post("/qwen/prepass", json=body)
    assert (response.status_code, response.json()["detail"]) == (404, "calibrator_not_found")


def test_a_recipe_calibrator_folder_filters_like_its_job(prepass_client: TestClient) -> None:
    """An imported recipe names its calibrator by folder (prepass_recipes/<id>/assets/calibrator), not by job."""
    _install_calibrator(prepass_client, "cal_0000beef")
    layout: Layout = prepass_client.app.state.tator.layout  # type: ignore[attr-defined]
    folder = layout.uploads_dir / "prepass_recipes" / "r1" / "assets" / "calibrator"
    shutil.copytree(layout.root("calibration_jobs") / "cal_0000beef" / "calibrator", folder)
    body = {**BODY, "image_base64": image_b64(3)}
    by_job = prepass_client.post("/qwen/prepass", json={**body, "calibration_job_id": "cal_0000beef"}).json()
    relative = folder.relative_to(layout.uploads_dir).as_posix()
    by_dir = prepass_client.post("/qwen/prepass", json={**body, "calibrator_dir": relative}).json()
    assert [d["bbox_xyxy_px"] for d in by_dir["detections"]] == [d["bbox_xyxy_px"] for d in by_job["detections"]]
    assert any(w.startswith("calibration:prepass_recipes/r1/assets/calibrator:") for w in by_dir["warnings"])
    escape = prepass_client.post("/qwen/prepass", json={**body, "calibrator_dir": "../../etc"})
    assert escape.status_code == 400, escape.text

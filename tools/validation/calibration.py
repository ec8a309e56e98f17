"""Rows of the matrix's "Calibration" section: the job routes' contract, then calibration on a cached prepass
with XGBoost and with the MLP.

The cached prepass is stored through `POST /calibration/prepass/{id}/records`: candidates of a synthetic dataset
drawn with controlled noise (`tator.calibration.synthetic`: three sources, the prepass dedupe, a classifier
probability), so the truth is known here. The row checks that metrics are non-zero and correct: F1 is the harmonic
mean of P and R, TP + FN equals the ground-truth boxes of the test split's images (every miss counted), the
calibrated recall stays under the pool's ceiling, and the report bundle holds the report and the calibrator.
"""

from __future__ import annotations

import io
import json
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tator itself, for the synthetic data

from tator.calibration.synthetic import candidate_record, make_candidates  # noqa: E402
from tator.zoo.synthetic import SyntheticDataset, make_detection_dataset  # noqa: E402
from validation.context import Row, ValidationContext  # noqa: E402
from validation.datasets import _unique, upload  # noqa: E402

SECTION = "Calibration"
FAST = {"xgb_rounds": 150, "epochs": 30, "enable_yolo": False, "enable_rfdetr": False, "enable_sam3_text": False,
        "enable_sam3_similarity": False, "extra_sources": ["detector", "sam3_text", "similarity"]}  # fmt: skip


def _expect(response: Any, status: int, code: str) -> None:
    assert (response.status_code, response.json().get("detail")) == (status, code), response.text


def check_contract(ctx: ValidationContext) -> str:
    http = ctx.http
    listing = http.get("/calibration/jobs").raise_for_status().json()
    assert isinstance(listing, list), listing
    _expect(http.post("/calibration/jobs", json={"dataset_id": "no-such-dataset", "prepass_id": "x"}), 404,
            "dataset_not_found")  # fmt: skip
    _expect(http.get("/calibration/jobs/cal_00000000"), 404, "calibration_job_not_found")
    _expect(http.post("/calibration/jobs/cal_00000000/cancel"), 404, "calibration_job_not_found")
    _expect(http.get("/calibration/jobs/cal_00000000/artifacts/report_bundle"), 404, "calibration_job_not_found")
    return f"{len(listing)} calibration jobs listed; refusals: unknown dataset, unknown job (get/cancel/bundle)"


def _dataset(ctx: ValidationContext) -> tuple[str, SyntheticDataset]:
    name = _unique("validate_cal")
    ds = make_detection_dataset(ctx.workdir / name / name, n_train=70, n_val=20, image_size=192, seed=11)
    archive = ctx.workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    upload(ctx, archive)
    return name, ds


def _store_prepass(ctx: ValidationContext, prepass_id: str, ds: SyntheticDataset) -> None:
    rng = np.random.default_rng(11)
    records = []
    for image in ds.images:
        truths = [(b.class_id, (b.box.x1, b.box.y1, b.box.x2, b.box.y2)) for b in image.boxes]
        cands = make_candidates(rng, truths, (image.width, image.height))
        records.append({"image": image.key, "detections": [candidate_record(c, ds.labelmap) for c in cands]})
    ctx.http.post(f"/calibration/prepass/{prepass_id}/records", json={"records": records}).raise_for_status()


def _wait(ctx: ValidationContext, job_id: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = dict(ctx.http.get(f"/calibration/jobs/{job_id}").raise_for_status().json())
        if job["status"] in ("completed", "failed", "cancelled", "interrupted"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(1.0)


def _check_job(ctx: ValidationContext, job: dict[str, Any], ds: SyntheticDataset) -> dict[str, Any]:
    assert job["status"] == "completed", job["error"]
    bundle = ctx.http.get(f"/calibration/jobs/{job['job_id']}/artifacts/report_bundle").raise_for_status()
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    assert {"report.json", "report.md", "pr_curve.png", "calibrator/calibrator.json"} <= set(archive.namelist())
    report = json.loads(archive.read("report.json"))
    total = report["test"]["total"]
    assert total["tp"] > 0 and total["f1"] > 0, total
    p, r = total["precision"], total["recall"]
    assert abs(total["f1"] - 2 * p * r / (p + r)) < 1e-4, total
    truth = {image.key: len(image.boxes) for image in ds.images}
    assert total["tp"] + total["fn"] == sum(truth[key] for key in report["split"]["test"]), total
    assert r <= report["recall_ceiling"] + 1e-9, report["recall_ceiling"]
    assert job["result"]["metrics"] == total, job["result"]["metrics"]
    return dict(total)


def check_calibration_on_cached_prepass(ctx: ValidationContext) -> str:
    started = time.monotonic()
    name, ds = _dataset(ctx)
    prepass_id = f"{name}_prepass"
    figures = []
    try:
        _store_prepass(ctx, prepass_id, ds)
        for model in ("xgb", "mlp"):
            body = {"dataset_id": name, "prepass_id": prepass_id, "calibration_model": model, **FAST}
            job = _wait(ctx, ctx.http.post("/calibration/jobs", json=body).raise_for_status().json()["job_id"])
            total = _check_job(ctx, job, ds)
            unchanged = ctx.http.post(f"/calibration/jobs/{job['job_id']}/cancel").raise_for_status().json()
            assert unchanged["status"] == "completed", unchanged  # a finished job is returned unchanged
            figures.append(f"{model} P {total['precision']:.3f} R {total['recall']:.3f} F1 {total['f1']:.3f}")
    finally:
        ctx.http.delete(f"/datasets/{name}")
    seconds = time.monotonic() - started
    return f"cached prepass of {len(ds.images)} images; test split: {'; '.join(figures)} ({seconds:.0f}s)"


ROWS: list[Row] = [
    (SECTION, "`/calibration/jobs` start/list/get/cancel", check_contract),
    (SECTION, "Calibration on cached prepass (MLP + XGB)", check_calibration_on_cached_prepass),
]

"""Rows of the YOLO and RF-DETR sections: train a run end to end, then use it in every predict mode.

Training rows come first: the inference rows use the runs they trained and activated.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from validation.context import Row, ValidationContext
from validation.datasets import _unique, make_zip, upload

TRAIN_BODY = {
    "yolo": {"from_scratch": True, "epochs": 2, "img_size": 64, "batch": 4},
    "rfdetr": {"epochs": 1, "batch": 2, "resolution": 128},
}


def _dataset(ctx: ValidationContext) -> dict[str, Any]:
    if "detector_dataset" not in ctx.shared:
        name = _unique("validate_detect")
        archive, ds = make_zip(ctx, name)
        meta = upload(ctx, archive)
        image = sorted((ds.root / "val" / "images").iterdir())[0]
        ctx.shared["detector_dataset"] = {
            "id": meta["id"],
            "labelmap": list(ds.labelmap),
            "image_b64": base64.b64encode(image.read_bytes()).decode(),
        }
    return dict(ctx.shared["detector_dataset"])


def _wait(ctx: ValidationContext, path: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(ctx.http.get(path).raise_for_status().json())
        if body["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return body
        assert time.monotonic() < deadline, f"job still {body['status']} after {timeout}s"
        time.sleep(0.5)


def check_train_api(family: str) -> Any:
    def check(ctx: ValidationContext) -> str:
        dataset = _dataset(ctx)
        refused = ctx.http.post(f"/{family}/train/jobs", json={"dataset_id": dataset["id"]})
        assert refused.status_code == 400 and refused.json()["detail"] == f"{family}_tos_required", refused.text
        body = {
            "dataset_id": dataset["id"],
            "accept_tos": True,
            **TRAIN_BODY[family],
            "epochs": 500,
            "auto_activate": False,
        }
        job = ctx.http.post(f"/{family}/train/jobs", json=body).raise_for_status().json()
        listed = ctx.http.get(f"/{family}/train/jobs").raise_for_status().json()
        assert any(j["job_id"] == job["job_id"] for j in listed)
        ctx.http.post(f"/{family}/train/jobs/{job['job_id']}/cancel").raise_for_status()
        final = _wait(ctx, f"/{family}/train/jobs/{job['job_id']}")
        assert final["status"] == "cancelled", final
        again = ctx.http.post(f"/{family}/train/jobs/{job['job_id']}/cancel")
        assert again.status_code == 409 and again.json()["detail"] == "job_not_cancellable"
        missing = ctx.http.get(f"/{family}/train/jobs/does-not-exist")
        assert missing.status_code == 404 and missing.json()["detail"] == f"{family}_job_not_found"
        return "ToS refused before queueing; started, listed, cancelled; 409 on re-cancel; 404 unknown"

    return check


def check_train_to_inference(family: str) -> Any:
    def check(ctx: ValidationContext) -> str:
        dataset = _dataset(ctx)
        body = {"dataset_id": dataset["id"], "accept_tos": True, **TRAIN_BODY[family]}
        job = ctx.http.post(f"/{family}/train/jobs", json=body).raise_for_status().json()
        final = _wait(ctx, f"/{family}/train/jobs/{job['job_id']}")
        assert final["status"] == "succeeded", final["error"]
        active = ctx.http.get(f"/{family}/active").raise_for_status().json()
        assert active.get("run_id") == job["job_id"], active
        result = ctx.http.post(f"/{family}/predict_full", json={"image_base64": dataset["image_b64"], "conf": 0.0})
        prediction = result.raise_for_status().json()
        assert prediction["labelmap"] == dataset["labelmap"], prediction["labelmap"]
        ctx.shared[f"{family}_run"] = job["job_id"]
        metrics = final["metrics"][-1] if final["metrics"] else {}
        score = metrics.get("metrics/mAP50(B)", metrics.get("val/mAP_50", 0.0))
        return (
            f"run {job['job_id'][:8]} succeeded in {len(final['metrics'])} epochs (mAP50 {score:.3f}), "
            f"auto-activated, predict_full returned {len(prediction['detections'])} boxes"
        )

    return check


def check_registry(family: str) -> Any:
    def check(ctx: ValidationContext) -> str:
        variants = ctx.http.get(f"/{family}/variants").raise_for_status().json()
        runs = ctx.http.get(f"/{family}/runs").raise_for_status().json()
        active = ctx.http.get(f"/{family}/active").raise_for_status().json()
        run_id = ctx.shared.get(f"{family}_run")
        assert run_id and any(r["run_id"] == run_id and r["is_active"] for r in runs), runs
        assert ctx.http.post(f"/{family}/active", json={"run_id": run_id}).raise_for_status().json()["run_id"] == run_id
        summary = ctx.http.get(f"/{family}/runs/{run_id}/summary").raise_for_status().json()
        archive = ctx.http.get(f"/{family}/runs/{run_id}/download").raise_for_status()
        bad = ctx.http.post(f"/{family}/active", json={"run_id": "../escape"})
        assert bad.status_code == 400, bad.text
        return (
            f"{len(variants)} variants, {len(runs)} runs, active={active.get('run_id', '')[:8]}, "
            f"summary labelmap={summary['labelmap']}, download {len(archive.content)} bytes"
        )

    return check


def check_predict_modes(family: str) -> Any:
    def check(ctx: ValidationContext) -> str:
        dataset = _dataset(ctx)
        full = ctx.http.post(f"/{family}/predict_full", json={"image_base64": dataset["image_b64"], "conf": 0.0})
        token = full.raise_for_status().json()["image_token"]
        region = (
            ctx.http.post(
                f"/{family}/predict_region", json={"image_token": token, "region": [10, 10, 60, 60], "conf": 0.0}
            )
            .raise_for_status()
            .json()
        )
        for det in region["detections"]:
            x, y, w, h = det["bbox"]
            assert 10 <= x + w / 2 <= 70 and 10 <= y + h / 2 <= 70, det
        windowed = (
            ctx.http.post(
                f"/{family}/predict_windowed",
                json={"image_token": token, "slice_size": 64, "overlap": 0.2, "conf": 0.0},
            )
            .raise_for_status()
            .json()
        )
        stale = ctx.http.post(f"/{family}/predict_full", json={"image_token": "0" * 32})
        assert stale.status_code == 404 and stale.json()["detail"] == "image_token_not_found"
        return (
            f"full {len(full.json()['detections'])}, region {len(region['detections'])} (centres inside), "
            f"windowed {len(windowed['detections'])} boxes; stale token -> 404"
        )

    return check


ROWS: list[Row] = [
    ("YOLO Training", "`/yolo/train/jobs` start/list/get/cancel", check_train_api("yolo")),
    ("YOLO Training", "Completion + auto-activate + inference with new model", check_train_to_inference("yolo")),
    ("YOLO Inference", "`/yolo/variants`, `/yolo/runs`, `/yolo/active`", check_registry("yolo")),
    ("YOLO Inference", "`/yolo/predict_region|full|windowed`", check_predict_modes("yolo")),
    ("RF-DETR Training", "`/rfdetr/train/jobs` start/list/get/cancel", check_train_api("rfdetr")),
    ("RF-DETR Training", "Full training run end-to-end", check_train_to_inference("rfdetr")),
    ("RF-DETR Inference", "`/rfdetr/variants`, `/rfdetr/runs`, `/rfdetr/active`", check_registry("rfdetr")),
    ("RF-DETR Inference", "`/rfdetr/predict_region|full|windowed`", check_predict_modes("rfdetr")),
    ("RF-DETR Inference", "Full inference on real images", check_predict_modes("rfdetr")),
]

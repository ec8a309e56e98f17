"""Rows of the matrix's "YOLO Head-Graft" section: the route contract, then a real graft end to end.

The graft row trains its own tiny base (from scratch, 2 epochs at 64 px), grafts a dataset that shares one
class with it, checks the merged model (base outputs identical, sanity predictions), predicts with it, and
round-trips its bundle through export -> import -> activate -> predict. It removes what it created.
"""

from __future__ import annotations

import base64
import io
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tator itself, for the synthetic datasets

from tator.zoo.synthetic import make_detection_dataset  # noqa: E402
from validation.context import Row, ValidationContext  # noqa: E402
from validation.datasets import _unique, upload  # noqa: E402

SECTION = "YOLO Head-Graft"
BASE_CLASSES = ("red_square", "green_circle", "blue_triangle")
GRAFT_CLASSES = ("Red Square", "yellow_diamond", "magenta_hexagon")  # the first is a base class, normalised
FAST = {"epochs": 2, "img_size": 64, "batch": 4, "accept_tos": True}


def _expect(response: Any, status: int, code: str) -> None:
    assert (response.status_code, response.json().get("detail")) == (status, code), response.text


def check_contract(ctx: ValidationContext) -> str:
    http = ctx.http
    listing = http.get("/yolo/head_graft/jobs").raise_for_status().json()
    assert isinstance(listing, list), listing
    missing = {"base_run_id": "no-such-run", "dataset_id": "no-such-dataset"}
    _expect(http.post("/yolo/head_graft/dry_run", json=missing), 404, "yolo_base_missing")
    _expect(http.post("/yolo/head_graft/jobs", json=missing), 400, "yolo_tos_required")
    _expect(http.post("/yolo/head_graft/jobs", json={**missing, "accept_tos": True}), 404, "yolo_base_missing")
    _expect(http.get("/yolo/head_graft/jobs/no-such-job"), 404, "job_not_found")
    _expect(http.post("/yolo/head_graft/jobs/no-such-job/cancel"), 404, "job_not_found")
    _expect(http.get("/yolo/head_graft/jobs/no-such-job/bundle"), 404, "yolo_head_graft_not_found")
    files = {"file": ("bundle.zip", b"not a zip", "application/zip")}
    _expect(http.post("/yolo/head_graft/import", files=files), 400, "yolo_bundle_invalid")
    return f"{len(listing)} graft jobs listed; refusals: base missing, ToS, unknown job/bundle, bad bundle"


def _dataset(ctx: ValidationContext, prefix: str, classes: tuple[str, ...]) -> tuple[str, Path]:
    name = _unique(prefix)
    ds = make_detection_dataset(ctx.workdir / name / name, classes=classes, n_train=8, n_val=3, image_size=64)
    archive = ctx.workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    upload(ctx, archive)
    return name, sorted((ds.root / "val" / "images").iterdir())[0]


def _wait(ctx: ValidationContext, path: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(ctx.http.get(path).raise_for_status().json())
        if body["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return body
        assert time.monotonic() < deadline, f"job still {body['status']} after {timeout}s"
        time.sleep(0.5)


def _predict_labelmap(ctx: ValidationContext, image: Path) -> tuple[list[str], int]:
    body = {"image_base64": base64.b64encode(image.read_bytes()).decode(), "conf": 0.01}
    prediction = ctx.http.post("/yolo/predict_full", json=body).raise_for_status().json()
    return list(prediction["labelmap"]), len(prediction["detections"])


def _train_base(ctx: ValidationContext, dataset_id: str) -> str:
    body = {"dataset_id": dataset_id, "from_scratch": True, **FAST}
    job_id = str(ctx.http.post("/yolo/train/jobs", json=body).raise_for_status().json()["job_id"])
    job = _wait(ctx, f"/yolo/train/jobs/{job_id}")
    assert job["status"] == "succeeded", job["error"]
    return job_id


def _graft(ctx: ValidationContext, base_id: str, dataset_id: str, same_id: str) -> dict[str, Any]:
    http = ctx.http
    request = {"base_run_id": base_id, "dataset_id": dataset_id}
    report = http.post("/yolo/head_graft/dry_run", json=request).raise_for_status().json()
    assert report["ok"] and report["overlap"] == ["redsquare"], report
    assert report["new_classes"] == ["yellow_diamond", "magenta_hexagon"], report
    _expect(http.post("/yolo/head_graft/jobs", json={**request, "dataset_id": same_id, **FAST}), 400,
            "yolo_labelmap_overlap")  # fmt: skip
    job_id = http.post("/yolo/head_graft/jobs", json={**request, **FAST}).raise_for_status().json()["job_id"]
    job = _wait(ctx, f"/yolo/head_graft/jobs/{job_id}")
    assert job["status"] == "succeeded", job["error"]
    result = job["result"]
    assert result["base_outputs_identical"] is True and result["sanity"]["class_ids_in_range"], result
    assert ctx.http.get("/yolo/active").json()["run_id"] == job_id, "graft run not auto-activated"
    return dict(job)


def _bundle_round_trip(ctx: ValidationContext, job_id: str, image: Path, merged: list[str]) -> str:
    http = ctx.http
    bundle = http.get(f"/yolo/head_graft/jobs/{job_id}/bundle").raise_for_status().content
    names = set(zipfile.ZipFile(io.BytesIO(bundle)).namelist())
    assert {"best.pt", "labelmap.txt", "head_graft_audit.jsonl", "run.json", "head_graft.yaml"} <= names, names
    run_name = _unique("validate_graft_import")
    files = {"file": ("bundle.zip", bundle, "application/zip")}
    imported = http.post("/yolo/head_graft/import", files=files, data={"run_name": run_name}).raise_for_status()
    run_id = str(imported.json()["run_id"])
    assert any(run["run_id"] == run_id for run in http.get("/yolo/runs").raise_for_status().json())
    http.post("/yolo/active", json={"run_id": run_id}).raise_for_status()
    labelmap, count = _predict_labelmap(ctx, image)
    assert labelmap == merged, labelmap
    return run_id


def check_graft_end_to_end(ctx: ValidationContext) -> str:
    started = time.monotonic()
    base_ds, image = _dataset(ctx, "validate_graft_base", BASE_CLASSES)
    graft_ds, _ = _dataset(ctx, "validate_graft_new", GRAFT_CLASSES)
    same_ds, _ = _dataset(ctx, "validate_graft_same", ("RED_SQUARE",))
    runs: list[str] = []
    try:
        runs.append(_train_base(ctx, base_ds))
        job = _graft(ctx, runs[0], graft_ds, same_ds)
        runs.append(job["job_id"])
        merged = [*BASE_CLASSES, "yellow_diamond", "magenta_hexagon"]
        labelmap, count = _predict_labelmap(ctx, image)
        assert labelmap == merged, labelmap
        runs.append(_bundle_round_trip(ctx, job["job_id"], image, merged))
    finally:
        for run_id in reversed(runs):
            ctx.http.delete(f"/yolo/runs/{run_id}")
        for dataset_id in (base_ds, graft_ds, same_ds):
            ctx.http.delete(f"/datasets/{dataset_id}")
    sanity = job["result"]["sanity"]
    return (
        f"base trained, 2 classes grafted (1 overlap dropped), base outputs identical, sanity "
        f"{sanity['detections']} dets on {sanity['images']} imgs, predict {count} dets over {len(merged)} classes; "
        f"bundle exported, imported, activated, predicted ({time.monotonic() - started:.0f}s)"
    )


ROWS: list[Row] = [
    (SECTION, "`/yolo/head_graft/*`", check_contract),
    (SECTION, "Actual graft job + sanity inference + bundle export/import", check_graft_end_to_end),
]

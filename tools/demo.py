"""`make demo`: the main job end to end against a freshly started server, with nothing but the tiny zoo.

    python tools/demo.py [--out demo/] [--keep-data]

A synthetic dataset is uploaded, a detector and a classifier head are trained, the dataset is pre-labelled
(progress shown), a calibrator is fitted and its report (Markdown + plots) saved, and the recipe exported.
Every step prints the HTTP call it made; what the server produced is saved under --out.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tools"))

from run_validation import serving  # noqa: E402

from tator.zoo.synthetic import make_detection_dataset  # noqa: E402

SUCCESS = ("succeeded", "completed")  # calibration jobs say "completed", as the contract does
TERMINAL = (*SUCCESS, "failed", "cancelled", "interrupted")


def _show(response: httpx.Response) -> None:
    request = response.request
    print(f"  -> {request.method} {request.url.path}{'?' + request.url.query.decode() if request.url.query else ''}"
          f"  [{response.status_code}]")  # fmt: skip


def step(title: str) -> None:
    print(f"\n== {title}")


def call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    response = http.request(method, path, **kwargs)
    _show(response)
    if response.status_code >= 400:
        raise SystemExit(f"{method} {path} failed: {response.status_code} {response.text[:500]}")
    return response.json() if response.headers.get("content-type", "").startswith("application/json") else response


def wait(http: httpx.Client, path: str, timeout: float = 1800.0) -> dict[str, Any]:
    """Poll a job until it ends, printing its progress every tenth of the way (and every change of state)."""
    deadline, last = time.monotonic() + timeout, None
    while True:
        body = dict(http.get(path).raise_for_status().json())
        progress = float(body.get("progress") or 0.0)
        if (body.get("status"), int(progress * 10)) != last:
            print(f"     {body.get('status'):<10} {progress:>5.0%}  {body.get('message') or ''}")
            last = (body.get("status"), int(progress * 10))
        if body.get("status") in TERMINAL:
            if body["status"] not in SUCCESS:
                raise SystemExit(f"job {path} ended {body['status']}: {body.get('error')}")
            print(f"  <- GET {path} polled until {body['status']}")
            return body
        if time.monotonic() > deadline:
            raise SystemExit(f"job {path} still {body.get('status')} after {timeout:.0f}s")
        time.sleep(0.5)


def upload_dataset(http: httpx.Client, scratch: Path) -> str:
    step("1. Upload a synthetic dataset (coloured shapes, YOLO layout, train/val)")
    name = f"demo_shapes_{time.strftime('%Y%m%d%H%M%S')}"
    ds = make_detection_dataset(scratch / name / name, n_train=96, n_val=24, image_size=128)
    archive = scratch / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    with open(archive, "rb") as handle:
        meta = call(http, "POST", "/datasets/upload", files={"file": (archive.name, handle, "application/zip")})
    print(f"     dataset {meta['id']}: {meta.get('image_count')} images, classes {list(ds.labelmap)}")
    glossary = "\n".join(f"{label}: {label} shape" for label in ds.labelmap)
    call(http, "POST", f"/datasets/{meta['id']}/glossary", json={"glossary": glossary})
    return str(meta["id"])


def train_detector(http: httpx.Client, dataset_id: str) -> str:
    step("2. Train a YOLO detector on it (tiny, from scratch, 30 epochs at 128 px) and activate it")
    body = {"dataset_id": dataset_id, "accept_tos": True, "from_scratch": True, "epochs": 30, "img_size": 128}
    job = call(http, "POST", "/yolo/train/jobs", json={**body, "batch": 16})
    wait(http, f"/yolo/train/jobs/{job['job_id']}")
    active = call(http, "GET", "/yolo/active")
    print(f"     active YOLO run: {active.get('run_id')}")
    return str(job["job_id"])


def train_head(http: httpx.Client, dataset_id: str) -> str:
    step("3. Train a classifier head on crops of the same dataset (tiny CLIP) and activate it")
    job = call(http, "POST", "/clip/train", data={"dataset_id": dataset_id})
    result = wait(http, f"/clip/train/{job['job_id']}")["result"]
    print(f"     head {result['model_rel_path']}")
    return str(result["model_rel_path"])


# The sources the demo pre-labels with: the YOLO run it trained and SAM3 text prompts from the glossary (full
# image only, to keep a CPU run short); every candidate gets the head's class probabilities. Thresholds are low
# (the tiny SAM3 is random): the pool is wide and the calibrator learns what to keep.
PREPASS = {"enable_yolo": True, "enable_rfdetr": False, "enable_sam3_text": True, "enable_sam3_similarity": False,
           "detector_conf": 0.01, "detector_max_det": 100, "detector_windowed": False,
           "sam3_text_window_extension": False, "prepass_sam3_text_thr": 0.0, "sam3_max_results": 20}  # fmt: skip


def prepass_dataset(http: httpx.Client, dataset_id: str, head: str) -> str:
    step("4. Pre-label the whole dataset (YOLO + SAM3 text prompts, head scores on every crop), with progress")
    job = call(http, "POST", "/prepass/jobs", json={"dataset_id": dataset_id, "classifier_id": head, **PREPASS})
    result = wait(http, f"/prepass/jobs/{job['job_id']}")["result"]
    print(f"     {result['candidates']} proposals on {result['images']} images "
          f"({result['cached']} from the cache) -> dataset {result.get('proposals_dataset_id')}")  # fmt: skip
    return str(job["job_id"])


def calibrate(http: httpx.Client, dataset_id: str, head: str, out: Path) -> str:
    step("5. Calibrate: learn which proposals to trust (XGBoost on held-out images; the prepass comes from cache)")
    body = {"dataset_id": dataset_id, "classifier_id": head, "calibration_model": "xgb", "prepass_config": PREPASS,
            "enable_rfdetr": False, "enable_sam3_similarity": False}  # fmt: skip
    job = call(http, "POST", "/calibration/jobs", json=body)
    final = wait(http, f"/calibration/jobs/{job['job_id']}")
    bundle = call(http, "GET", f"/calibration/jobs/{job['job_id']}/artifacts/report_bundle")
    report_dir = out / "calibration_report"
    shutil.rmtree(report_dir, ignore_errors=True)
    archive = out / "calibration_report.zip"
    archive.write_bytes(bundle.content)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(report_dir)
    metrics = (final.get("result") or {}).get("metrics") or {}
    print(f"     held-out test: {json.dumps(metrics)[:300]}")
    print(f"     report: {', '.join(sorted(p.name for p in report_dir.rglob('*') if p.is_file()))} in {report_dir}")
    return str(job["job_id"])


def export_recipe(http: httpx.Client, dataset_id: str, head: str, run_id: str, calibration_id: str, out: Path) -> None:
    step("6. Save the whole set-up as a recipe (glossary, head, detector run, calibrator) and export it")
    glossary = call(http, "GET", f"/datasets/{dataset_id}/glossary")["glossary"]
    config = {**PREPASS, "dataset_id": dataset_id, "classifier_id": head, "yolo_run_id": run_id,
              "calibration_job_id": calibration_id}  # fmt: skip
    recipe = call(
        http, "POST", "/prepass/recipes", json={"name": "demo shapes", "config": config, "glossary": glossary}
    )
    exported = call(http, "POST", f"/prepass/recipes/{recipe['id']}/export")
    archive = out / "demo_recipe.zip"
    archive.write_bytes(exported.content)
    with zipfile.ZipFile(archive) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    roles = sorted({asset["role"] for asset in manifest["assets"]})
    print(f"     {archive.name}: {len(manifest['assets'])} files ({', '.join(roles)}), every one with its SHA-256")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "demo")
    parser.add_argument("--keep-data", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="tator-demo-data-"))
    started = time.perf_counter()
    with (
        serving(data_dir, args.out / "server.log") as base_url,
        httpx.Client(base_url=base_url, timeout=600) as http,
        tempfile.TemporaryDirectory(prefix="tator-demo-") as scratch,
    ):
        dataset_id = upload_dataset(http, Path(scratch))
        run_id = train_detector(http, dataset_id)
        head = train_head(http, dataset_id)
        prepass_dataset(http, dataset_id, head)
        calibration_id = calibrate(http, dataset_id, head, args.out)
        export_recipe(http, dataset_id, head, run_id, calibration_id, args.out)
    print(f"\nDemo finished in {time.perf_counter() - started:.0f}s; outputs in {args.out}")
    if not args.keep_data:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rows of the matrix's "CLIP / DINO Classifier" section, and the classifier half of "Crop Zip / File Upload".

The server runs on the tiny zoo (TATOR_MODEL_ZOO=tiny): every CLIP name stands for the tiny CLIP, DINOv3 for
the tiny DINOv3. Rows train on a synthetic dataset they upload (coloured shapes) and remove what they make.
"""

from __future__ import annotations

import base64
import io
import pickle
import sys
import time
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tator itself, for datasets and head files

import numpy as np  # noqa: E402

from tator.clip.head import build_head, head_bytes  # noqa: E402
from tator.zoo.synthetic import SyntheticDataset, make_detection_dataset  # noqa: E402
from validation.context import Row, ValidationContext  # noqa: E402

SECTION = "CLIP / DINO Classifier"
CROPS = "Crop Zip / File Upload"
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


def _unique(prefix: str) -> str:
    return f"{prefix}_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"


def _dataset(ctx: ValidationContext, *, n_train: int = 24, n_val: int = 8) -> tuple[str, SyntheticDataset]:
    name = _unique("validate_clip")
    ds = make_detection_dataset(ctx.workdir / name / name, n_train=n_train, n_val=n_val, image_size=128)
    archive = ctx.workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    with open(archive, "rb") as handle:
        response = ctx.http.post("/datasets/upload", files={"file": (archive.name, handle, "application/zip")})
    assert response.status_code == 200, response.text
    return name, ds


def _wait(ctx: ValidationContext, job_id: str, timeout: float = 600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(ctx.http.get(f"/clip/train/{job_id}").raise_for_status().json())
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, f"job {job_id} still {body['status']}"
        time.sleep(0.2)


def _train(ctx: ValidationContext, dataset_id: str, **form: str) -> dict[str, Any]:
    started = ctx.http.post("/clip/train", data={"dataset_id": dataset_id, **form})
    assert started.status_code == 202, started.text
    body = _wait(ctx, started.json()["job_id"])
    assert body["status"] == "succeeded", body["error"]
    return dict(body["result"])


def _cleanup(ctx: ValidationContext, dataset_id: str, results: list[dict[str, Any]]) -> None:
    for result in results:
        ctx.http.delete("/clip/classifiers", params={"rel_path": result["model_rel_path"]})
        ctx.http.delete("/clip/labelmaps", params={"rel_path": result["labelmap_rel_path"]})
    ctx.http.delete(f"/datasets/{dataset_id}")


def _head_file(classes: tuple[str, ...] = ("leaf", "stone", "__bg_0"), dim: int = 32) -> bytes:
    weight = np.random.default_rng(0).normal(size=(len(classes), dim))
    return head_bytes(build_head(classes, [(weight, np.zeros(len(classes)))], activation="none"))


def check_listings(ctx: ValidationContext) -> str:
    backbones = ctx.http.get("/clip/backbones").raise_for_status().json()
    assert "ViT-B/32" in backbones["available"] and backbones["active"], backbones
    classifiers = ctx.http.get("/clip/classifiers").raise_for_status().json()
    labelmaps = ctx.http.get("/clip/labelmaps").raise_for_status().json()
    assert isinstance(classifiers, list) and isinstance(labelmaps, list)
    assert all({"filename", "rel_path", "classes"} <= set(e) for e in classifiers), classifiers[:1]
    assert all({"filename", "rel_path", "root", "n_classes"} <= set(e) for e in labelmaps), labelmaps[:1]
    return f"{len(backbones['available'])} backbones, {len(classifiers)} classifiers, {len(labelmaps)} labelmaps"


def check_download_rename_delete(ctx: ValidationContext) -> str:
    name = _unique("validate_head")
    saved = ctx.http.post("/fs/upload_classifier", files={"file": (f"{name}.npz", _head_file())}).raise_for_status()
    rel = Path(saved.json()["path"]).name
    raw = ctx.http.get("/clip/classifiers/download", params={"rel_path": rel}).raise_for_status().content
    bundle = ctx.http.get("/clip/classifiers/download_zip", params={"rel_path": rel}).raise_for_status().content
    members = zipfile.ZipFile(io.BytesIO(bundle)).namelist()
    assert raw[:2] == b"PK" and len(members) == 3, members
    renamed = ctx.http.post("/clip/classifiers/rename", data={"rel_path": rel, "new_name": f"{name}_renamed"}).json()
    assert renamed["status"] == "renamed", renamed
    gone = ctx.http.delete("/clip/classifiers", params={"rel_path": renamed["new_rel_path"]}).json()
    assert gone == {"status": "deleted", "rel_path": renamed["new_rel_path"]}, gone
    missing = ctx.http.get("/clip/classifiers/download", params={"rel_path": rel})
    assert (missing.status_code, missing.json()["detail"]) == (404, "classifier_not_found"), missing.text
    labelmap = f"{name}.txt"
    ctx.http.post("/fs/upload_labelmap", files={"file": (labelmap, b"leaf\nstone\n")}).raise_for_status()
    assert ctx.http.get("/clip/labelmaps/download", params={"rel_path": labelmap}).text == "leaf\nstone\n"
    assert ctx.http.delete("/clip/labelmaps", params={"rel_path": labelmap}).json()["status"] == "deleted"
    return f"head {rel}: downloaded ({len(raw)} B), zipped {members}, renamed, deleted; labelmap downloaded + deleted"


def check_train_routes(ctx: ValidationContext) -> str:
    dataset_id, _ = _dataset(ctx, n_train=8, n_val=0)
    results: list[dict[str, Any]] = []
    try:
        slow = {"dataset_id": dataset_id, "batch_size": "1", "reuse_embeddings": "false"}
        first = ctx.http.post("/clip/train", data=slow)
        second = ctx.http.post("/clip/train", data={"dataset_id": dataset_id, "reuse_embeddings": "false"})
        assert first.status_code == 202 and second.status_code == 202, (first.text, second.text)
        first_id, second_id = first.json()["job_id"], second.json()["job_id"]
        cancel = ctx.http.post(f"/clip/train/{second_id}/cancel")
        listed = {j["job_id"] for j in ctx.http.get("/clip/train").raise_for_status().json()}
        assert {first_id, second_id} <= listed
        done, other = _wait(ctx, first_id), _wait(ctx, second_id)
        assert done["status"] == "succeeded", done["error"]
        results = [r for r in (done["result"], other["result"]) if r]
        if cancel.status_code == 200:
            assert other["status"] == "cancelled", other["status"]
        else:  # the second job had already finished: cancel must then say so
            assert cancel.json()["detail"] == "job_not_cancellable" and other["status"] == "succeeded", cancel.text
        missing = ctx.http.get("/clip/train/does-not-exist")
        assert (missing.status_code, missing.json()["detail"]) == (404, "job_not_found")
    finally:
        _cleanup(ctx, dataset_id, results)
    state = cancel.json().get("status", cancel.json().get("detail"))
    return f"started 2, listed, got; cancel of the second -> {state}, it ended {other['status']}"


def check_training_runs(ctx: ValidationContext) -> str:
    dataset_id, _ = _dataset(ctx)
    runs = {
        "CLIP ViT-B/32 logreg": {"encoder_type": "clip", "clip_model_name": "ViT-B/32"},
        "CLIP ViT-L/14 mlp": {"encoder_type": "clip", "clip_model_name": "ViT-L/14", "classifier_type": "mlp"},
        "DINOv3 logreg": {"encoder_type": "dinov3"},
    }
    results, summary = [], []
    for label, form in runs.items():
        result = _train(ctx, dataset_id, **form)
        results.append(result)
        assert result["accuracy"] > result["majority_baseline_accuracy"] + 0.2, (label, result["accuracy"])
        summary.append(f"{label} acc={result['accuracy']:.2f} (majority {result['majority_baseline_accuracy']:.2f})")
    _cleanup(ctx, dataset_id, results)
    return "; ".join(summary)


def check_registry_and_predict(ctx: ValidationContext) -> str:
    dataset_id, ds = _dataset(ctx)
    result = _train(ctx, dataset_id, encoder_type="clip")
    try:
        listed = {e["rel_path"]: e for e in ctx.http.get("/clip/classifiers").raise_for_status().json()}
        assert result["model_rel_path"] in listed, sorted(listed)
        active = ctx.http.post("/clip/active_model", json={"classifier_path": result["model_rel_path"]})
        assert active.status_code == 200 and active.json()["encoder_ready"], active.text
        truth, guesses = [], []
        for image in ds.split("val"):
            b64 = base64.b64encode(image.path.read_bytes()).decode()
            for box in image.boxes:
                query = {"image_base64": b64, "bbox_xyxy": list(box.box), "background_guard": False}
                body = ctx.http.post("/predict_base64", json=query).raise_for_status().json()
                assert body["error"] is None, body
                truth.append(ds.labelmap[box.class_id])
                guesses.append(body["prediction"])
        accuracy = sum(t == g for t, g in zip(truth, guesses, strict=True)) / len(truth)
        majority = Counter(truth).most_common(1)[0][1] / len(truth)
    finally:
        _cleanup(ctx, dataset_id, [result])
    assert accuracy > majority, (accuracy, majority)
    head = result["model_rel_path"]
    return f"{head} listed, activated; /predict_base64 on {len(truth)} boxes: {accuracy:.2f} (majority {majority:.2f})"


class _WritesAFile:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.target, "w"))


def check_file_uploads(ctx: ValidationContext) -> str:
    name = _unique("validate_upload")
    saved = ctx.http.post("/fs/upload_classifier", files={"file": (f"{name}.npz", _head_file())})
    assert saved.status_code == 200, saved.text
    again = ctx.http.post("/fs/upload_classifier", files={"file": (f"{name}.npz", _head_file())})
    assert (again.status_code, again.json()["detail"]) == (409, "upload_exists"), again.text
    target = ctx.workdir / f"{name}_owned.txt"
    hostile = ctx.http.post(
        "/fs/upload_classifier", files={"file": (f"{name}_evil.pkl", pickle.dumps(_WritesAFile(str(target))))}
    )
    assert (hostile.status_code, hostile.json()["detail"]) == (400, "classifier_format_unsafe"), hostile.text
    assert not target.exists()
    labelmap = ctx.http.post("/fs/upload_labelmap", files={"file": (f"{name}.txt", b"leaf\nstone\n")})
    assert labelmap.status_code == 200 and labelmap.json()["classes"] == 2, labelmap.text
    ctx.http.delete("/clip/classifiers", params={"rel_path": f"{name}.npz"})
    ctx.http.delete("/clip/labelmaps", params={"rel_path": f"{name}.txt"})
    return "safe head saved (409 on repeat); a file-writing pickle -> 400 classifier_format_unsafe; labelmap saved"


ROWS: list[Row] = [
    (SECTION, "`/clip/backbones`, `/clip/classifiers`, `/clip/labelmaps`", check_listings),
    (SECTION, "download / rename / delete endpoints", check_download_rename_delete),
    (SECTION, "`/clip/train` start/list/get/cancel", check_train_routes),
    (SECTION, "Actual training runs (DINOv3 + any CLIP variants)", check_training_runs),
    (SECTION, "Verify registry after training + use by /predict_base64", check_registry_and_predict),
    (CROPS, "`/fs/upload_classifier`, `/fs/upload_labelmap`", check_file_uploads),
]

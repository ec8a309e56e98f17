"""The matrix's end-to-end rows: several domains in one flow, the way the frontend chains them.

They run after the detector rows (module order), so the YOLO run those rows trained is active; SAM3 and the
classifier backbones are the tiny zoo's. The models are random or barely trained, so the flows check that every
hand-off carries what it should (the glossary, the head, the cache, the calibrator), not accuracy; thresholds are
near zero so that every source proposes boxes.
"""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile
from typing import Any

from validation.context import Row, ValidationContext
from validation.datasets import _unique, make_detection_dataset, make_zip, upload

# One prepass set-up for every flow: SAM3 text prompts on the full image (the terms come from the glossary) and
# the active YOLO run, near-zero thresholds so that the tiny models propose boxes.
PREPASS = {"enable_yolo": True, "enable_rfdetr": False, "enable_sam3_text": True, "enable_sam3_similarity": False,
           "detector_conf": 0.0, "detector_max_det": 100, "detector_windowed": False,
           "sam3_text_window_extension": False, "prepass_sam3_text_thr": 0.0, "sam3_max_results": 10}  # fmt: skip
TERMINAL = ("succeeded", "completed", "failed", "cancelled", "interrupted")


def _ok(response: Any) -> Any:
    assert response.status_code in (200, 201, 202), f"{response.request.url.path}: {response.text[:300]}"
    return response.json()


def _wait(ctx: ValidationContext, path: str, timeout: float = 1800.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(_ok(ctx.http.get(path)))
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, f"{path} still {body['status']}"
        time.sleep(0.5)


def _dataset_with_glossary(ctx: ValidationContext, prefix: str) -> tuple[str, str, str]:
    """Upload a synthetic dataset and give every class a glossary term nobody would guess; (id, glossary, b64)."""
    name = _unique(prefix)
    archive, ds = make_zip(ctx, name)
    meta = upload(ctx, archive)
    glossary = "\n".join(f"{label}: {label.split('_')[0]} thing {n}" for n, label in enumerate(ds.labelmap))
    _ok(ctx.http.post(f"/datasets/{meta['id']}/glossary", json={"glossary": glossary}))
    image = sorted((ds.root / "val" / "images").iterdir())[0]
    return str(meta["id"]), glossary, base64.b64encode(image.read_bytes()).decode()


def _prompt_terms(answer: dict[str, Any]) -> set[str]:
    return {d["sam3_prompt_term"] for d in answer["detections"] if d.get("sam3_prompt_term")}


def check_glossary_flow(ctx: ValidationContext) -> str:
    dataset_id, glossary, image = _dataset_with_glossary(ctx, "validate_flow_glossary")
    recipe_id = None
    try:
        edited = _ok(ctx.http.get(f"/datasets/{dataset_id}/glossary"))["glossary"]
        assert edited == glossary, edited
        body = {"name": f"{dataset_id} recipe", "config": {**PREPASS, "dataset_id": dataset_id}, "glossary": edited}
        recipe = _ok(ctx.http.post("/prepass/recipes", json=body))
        recipe_id = recipe["id"]
        stored = _ok(ctx.http.get(f"/prepass/recipes/{recipe_id}"))
        assert stored["glossary"] == glossary, stored
        config = {k: v for k, v in stored["config"].items() if k in PREPASS}
        answer = _ok(ctx.http.post("/qwen/prepass", json={**config, "dataset_id": dataset_id, "image_base64": image,
                                                           "labelmap_glossary": stored["glossary"]}))  # fmt: skip
        terms = _prompt_terms(answer)
        glossary_terms = {line.split(": ", 1)[1] for line in glossary.splitlines()}
        assert terms & glossary_terms, (terms, answer["warnings"])
    finally:
        if recipe_id:
            ctx.http.delete(f"/prepass/recipes/{recipe_id}")
        ctx.http.delete(f"/datasets/{dataset_id}")
    return (f"glossary edited on {dataset_id}, saved in recipe {recipe_id}; the recipe's prepass prompted SAM3 "
            f"with {sorted(terms & glossary_terms)} from it ({len(answer['detections'])} boxes)")  # fmt: skip


def _manifest(archive: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return dict(json.loads(zf.read("manifest.json")))


def _trained_detector(ctx: ValidationContext) -> tuple[str, str]:
    """A synthetic dataset big enough for the tiny YOLO to learn (96 train images, 30 epochs at 128 px: mAP50
    above 0.9 in about two minutes on a CPU), trained and activated; (dataset id, its glossary)."""
    name = _unique("validate_flow_cal")
    ds = make_detection_dataset(ctx.workdir / name / name, n_train=96, n_val=24, image_size=128, seed=5)
    archive = ctx.workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    dataset_id = str(upload(ctx, archive)["id"])
    glossary = "\n".join(f"{label}: {label.split('_')[0]} thing {n}" for n, label in enumerate(ds.labelmap))
    _ok(ctx.http.post(f"/datasets/{dataset_id}/glossary", json={"glossary": glossary}))
    body = {"dataset_id": dataset_id, "accept_tos": True, "from_scratch": True, "epochs": 30, "img_size": 128,
            "batch": 16}  # fmt: skip
    job = _ok(ctx.http.post("/yolo/train/jobs", json=body))
    done = _wait(ctx, f"/yolo/train/jobs/{job['job_id']}")
    assert done["status"] == "succeeded", done["error"]
    return dataset_id, glossary


def check_recipe_calibration_flow(ctx: ValidationContext) -> str:
    dataset_id, glossary = _trained_detector(ctx)
    made: list[str] = []
    try:
        recipe = _ok(
            ctx.http.post(
                "/prepass/recipes",
                json={
                    "name": f"{dataset_id} recipe",
                    "config": {**PREPASS, "dataset_id": dataset_id},
                    "glossary": glossary,
                },
            )
        )
        made.append(recipe["id"])  # fmt: skip
        config = {k: v for k, v in recipe["config"].items() if k in PREPASS}
        prepass = _ok(ctx.http.post("/prepass/jobs", json={**config, "dataset_id": dataset_id}))
        done = _wait(ctx, f"/prepass/jobs/{prepass['job_id']}")
        assert done["status"] == "succeeded", done["error"]
        body = {"dataset_id": dataset_id, "prepass_config": config, "enable_rfdetr": False,
                "enable_sam3_similarity": False, "xgb_rounds": 100, "recall_floor": 0.0}  # fmt: skip
        job = _ok(ctx.http.post("/calibration/jobs", json=body))
        calibrated = _wait(ctx, f"/calibration/jobs/{job['job_id']}")
        assert calibrated["status"] == "completed", calibrated["error"]
        metrics = calibrated["result"]["metrics"]
        assert metrics["tp"] + metrics["fn"] > 0, metrics
        linked = {**recipe["config"], "calibration_job_id": job["job_id"]}
        _ok(ctx.http.post("/prepass/recipes", json={"recipe_id": recipe["id"], "name": recipe["name"],
                                                    "config": linked, "glossary": glossary}))  # fmt: skip
        exported = ctx.http.post(f"/prepass/recipes/{recipe['id']}/export")
        assert exported.status_code == 200, exported.text[:300]
        roles = sorted({a["role"] for a in _manifest(exported.content)["assets"]})
        assert "calibrator" in roles, roles
        files = {"file": ("recipe.zip", exported.content, "application/zip")}
        imported = _ok(ctx.http.post("/prepass/recipes/import", files=files))
        made.append(imported["id"])
        assert imported["glossary"] == glossary and imported["config"].get("calibrator_dir"), imported
    finally:
        for recipe_id in made:
            ctx.http.delete(f"/prepass/recipes/{recipe_id}")
        ctx.http.delete(f"/datasets/{dataset_id}")
    return (f"recipe -> prepass job ({done['result']['candidates']} candidates) -> calibration {job['job_id']} "
            f"(test F1 {metrics['f1']:.3f}, prepass from cache) -> export ({', '.join(roles)}) -> import as "
            f"{imported['id']} with its calibrator")  # fmt: skip


def _train_head(ctx: ValidationContext, dataset_id: str) -> str:
    started = ctx.http.post("/clip/train", data={"dataset_id": dataset_id})
    assert started.status_code == 202, started.text[:300]
    done = _wait(ctx, f"/clip/train/{started.json()['job_id']}")
    assert done["status"] == "succeeded", done["error"]
    return str(done["result"]["model_rel_path"])


def _head_scored_prepass(ctx: ValidationContext, dataset_id: str, image: str, head: str) -> int:
    """Run the prepass with `head`; every box must carry its class probability. Returns the boxes scored."""
    answer = _ok(ctx.http.post("/qwen/prepass", json={**PREPASS, "dataset_id": dataset_id, "image_base64": image,
                                                       "classifier_id": head}))  # fmt: skip
    scored = [d for d in answer["detections"] if d.get("classifier_prob") is not None]
    assert answer["detections"] and len(scored) == len(answer["detections"]), answer["warnings"]
    return len(scored)


def check_trained_head_in_prepass(ctx: ValidationContext) -> str:
    dataset_id, _, image = _dataset_with_glossary(ctx, "validate_flow_head")
    head = None
    try:
        head = _train_head(ctx, dataset_id)
        listed = {c["rel_path"] if isinstance(c, dict) else c for c in _ok(ctx.http.get("/clip/classifiers"))}
        assert any(head in str(entry) for entry in listed), listed
        scored = _head_scored_prepass(ctx, dataset_id, image, head)
    finally:
        if head:
            ctx.http.delete("/clip/classifiers", params={"rel_path": head})
        ctx.http.delete(f"/datasets/{dataset_id}")
    return f"head {head} trained, listed in /clip/classifiers, scored all {scored} prepass boxes"


def check_uploaded_head_in_prepass(ctx: ValidationContext) -> str:
    dataset_id, _, image = _dataset_with_glossary(ctx, "validate_flow_upload")
    trained = uploaded = None
    try:
        trained = _train_head(ctx, dataset_id)
        data = ctx.http.get("/clip/classifiers/download", params={"rel_path": trained}).raise_for_status().content
        name = f"{_unique('validate_uploaded_head')}.npz"
        uploaded = str(_ok(ctx.http.post("/fs/upload_classifier", files={"file": (name, data)}))["path"])
        uploaded = uploaded.rsplit("/", 1)[-1]
        assert any(uploaded in str(entry) for entry in _ok(ctx.http.get("/clip/classifiers"))), uploaded
        scored = _head_scored_prepass(ctx, dataset_id, image, uploaded)
    finally:
        for head in (trained, uploaded):
            if head:
                ctx.http.delete("/clip/classifiers", params={"rel_path": head})
        ctx.http.delete(f"/datasets/{dataset_id}")
    return f"head uploaded as {uploaded} ({len(data)} bytes), listed, scored all {scored} prepass boxes"


ROWS: list[Row] = [
    ("Dataset & Glossary Management",
     "End-to-end: upload → glossary edit → recipe uses glossary → prepass uses same glossary", check_glossary_flow),
    ("Prepass Recipes", "End-to-end: recipe → prepass → calibration → export/import recipe",
     check_recipe_calibration_flow),
    ("CLIP / DINO Classifier", "Verify registry after training + use in prepass pipeline",
     check_trained_head_in_prepass),
    ("Crop Zip / File Upload", "End-to-end: upload → registry → use in prepass", check_uploaded_head_in_prepass),
]  # fmt: skip

"""Rows of the matrix's "Qwen (Caption/Infer/Prepass)" and "Qwen Training" sections.

Run against a server on the tiny zoo (`TATOR_MODEL_ZOO=tiny`): the models are random, so the rows check
routes, shapes, codes, a training run to completion and the activation of its adapter, not caption quality.
"""

from __future__ import annotations

import base64
import io
import time
from typing import Any

from PIL import Image

from validation.context import Row, ValidationContext
from validation.datasets import _unique, make_zip, upload

MODELS = "Qwen (Caption/Infer/Prepass)"
TRAINING = "Qwen Training"


def _image() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (160, 120), (40, 120, 200)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def check_models(ctx: ValidationContext) -> str:
    listing = ctx.http.get("/qwen/models").raise_for_status().json()
    assert listing["models"][0]["id"] == "default" and listing["active"], listing
    missing = ctx.http.post("/qwen/models/activate", json={"model_id": "no_such_model"})
    assert (missing.status_code, missing.json()["detail"]) == (404, "qwen_model_not_found"), missing.text
    active = ctx.http.post("/qwen/models/activate", json={"model_id": listing["active"]}).raise_for_status().json()
    status = ctx.http.get("/qwen/status").raise_for_status().json()
    assert status["available"] and status["active_model"] == active["active"], status
    settings = ctx.http.post("/qwen/settings", json={}).raise_for_status().json()
    assert "trust_remote_code" in settings, settings
    ctx.http.post("/qwen/infer", json={"image_base64": _image(), "prompt": "hi", "max_new_tokens": 2})
    assert ctx.http.get("/qwen/status").json()["loaded"] is True
    assert ctx.http.post("/qwen/unload").raise_for_status().json()["status"] == "unloaded"
    assert ctx.http.get("/qwen/status").json()["loaded"] is False
    return f"{len(listing['models'])} models, active {active['active']} ({status['model_family']}); load/unload ok"


def _caption_and_infer(ctx: ValidationContext) -> str:
    image = _image()
    infer = ctx.http.post("/qwen/infer", json={"image_base64": image, "item_list": "square", "max_new_tokens": 16})
    body = infer.raise_for_status().json()
    assert isinstance(body["boxes"], list) and body["prompt"].startswith("Locate every square"), body
    hints = [{"label": "square", "bbox": [10, 10, 60, 60]}]
    results = []
    for mode in ("full", "windowed"):
        query = {"image_token": body["image_token"], "caption_mode": mode, "window_size": 96, "label_hints": hints,
                 "max_new_tokens": 16}  # fmt: skip
        caption = ctx.http.post("/qwen/caption", json=query).raise_for_status().json()
        assert caption["used_counts"] == {"square": 1} and isinstance(caption["caption"], str), caption
        results.append(f"{mode}: {len(caption['caption'])} chars, {len(caption.get('windows', []))} windows")
    return f"infer {len(body['boxes'])} boxes, warnings {body['warnings']}; " + "; ".join(results)


PREPASS = {"labelmap": ["square", "circle"], "enable_yolo": False, "enable_rfdetr": False, "enable_sam3_text": True,
           "enable_sam3_similarity": False, "prepass_sam3_text_thr": 0.0, "sam3_max_results": 5,
           "prepass_caption": True}  # fmt: skip


def _prepass(ctx: ValidationContext, *, windowed: bool) -> str:
    """`/qwen/prepass` with a caption from the active Qwen, SAM3 on the full image (and on its grid if windowed)."""
    body = {"image_base64": _image(), **PREPASS, "sam3_text_window_extension": windowed}
    answer = ctx.http.post("/qwen/prepass", json=body, timeout=900).raise_for_status().json()
    text = [e for e in answer["trace"] if e["tool_name"] == "sam3_text" and e["phase"] == "tool_result"]
    windows = text[0]["windows"] if text else []
    assert windows and windows[0] == "full" and (len(windows) > 1) == windowed, windows
    assert isinstance(answer["caption"], str) and answer["caption"], (answer["caption"], answer["warnings"])
    mode = "windowed" if windowed else "full"
    return f"prepass {mode}: {len(answer['detections'])} boxes, caption {len(answer['caption'])} chars"


def check_caption_infer(ctx: ValidationContext) -> str:
    return f"{_caption_and_infer(ctx)}; {_prepass(ctx, windowed=False)}"


def check_caption_modes(ctx: ValidationContext) -> str:
    return f"{_prepass(ctx, windowed=False)}; {_prepass(ctx, windowed=True)}"


def _qwen_dataset(ctx: ValidationContext) -> str:
    if "qwen_dataset" not in ctx.shared:
        name = _unique("validate_qwen_train")
        archive, _ = make_zip(ctx, name)
        upload(ctx, archive)
        built = ctx.http.post(f"/datasets/{name}/build/qwen").raise_for_status().json()
        ctx.shared["qwen_dataset"] = built["id"]
    return str(ctx.shared["qwen_dataset"])


def _wait(ctx: ValidationContext, job_id: str, timeout: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ctx.http.get(f"/qwen/train/jobs/{job_id}").raise_for_status().json()
        if job["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return dict(job)
        time.sleep(2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")


def check_train_routes(ctx: ValidationContext) -> str:
    refused = ctx.http.post("/qwen/train/jobs", json={})
    assert (refused.status_code, refused.json()["detail"]) == (400, "dataset_id_required"), refused.text
    started = ctx.http.post("/qwen/train/jobs", json={"dataset_id": _qwen_dataset(ctx), "max_epochs": 50})
    job_id = started.raise_for_status().json()["job_id"]
    assert any(j["job_id"] == job_id for j in ctx.http.get("/qwen/train/jobs").json())
    blocked = ctx.http.post("/qwen/train/cache/purge")
    cancel = ctx.http.post(f"/qwen/train/jobs/{job_id}/cancel").raise_for_status().json()
    job = _wait(ctx, job_id)
    assert job["status"] == "cancelled", job["status"]
    purged = ctx.http.post("/qwen/train/cache/purge").raise_for_status().json()
    assert ctx.http.get("/qwen/train/cache_size").json()["bytes"] == 0
    return (
        f"started, listed, purge while active -> {blocked.status_code}, cancel -> {cancel['status']}, purged {purged}"
    )


def check_training_run(ctx: ValidationContext) -> str:
    body = {"dataset_id": _qwen_dataset(ctx), "run_name": "validation LoRA", "max_epochs": 2, "lr": 0.01,
            "accumulate_grad_batches": 2}  # fmt: skip
    job_id = ctx.http.post("/qwen/train/jobs", json=body).raise_for_status().json()["job_id"]
    job = _wait(ctx, job_id)
    assert job["status"] == "succeeded", job["error"]
    losses = [row["train_loss"] for row in job["metrics"] if "train_loss" in row]
    listed = {m["id"]: m for m in ctx.http.get("/qwen/models").json()["models"]}
    assert job_id in listed and listed[job_id]["available"], sorted(listed)
    active = ctx.http.post("/qwen/models/activate", json={"model_id": job_id}).raise_for_status().json()
    used = ctx.http.post("/qwen/infer", json={"image_base64": _image(), "item_list": "square", "max_new_tokens": 8})
    assert used.raise_for_status().json()["model_id"] == job_id
    ctx.http.post("/qwen/models/activate", json={"model_id": "default"})
    return (
        f"{len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}; adapter listed, activated ({active['active']})"
    )


ROWS: list[Row] = [
    (MODELS, "`/qwen/models`, `/qwen/models/activate`, `/qwen/status`, `/qwen/settings`, `/qwen/unload`", check_models),
    (MODELS, "`/qwen/caption`, `/qwen/infer`, `/qwen/prepass`", check_caption_infer),
    (MODELS, "Caption + prepass (windowed + non-windowed)", check_caption_modes),
    (TRAINING, "`/qwen/train/jobs` + cache purge", check_train_routes),
    (TRAINING, "Full training run end-to-end", check_training_run),
]

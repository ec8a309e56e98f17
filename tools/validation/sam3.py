"""Rows of the matrix's SAM3 sections: interactive and concept prompts, the SAM3 registry, training, and the
prompt helper. The server runs on the tiny zoo (random weights): rows check shapes, codes and round trips,
not accuracy. They upload a synthetic dataset and remove what they make."""

from __future__ import annotations

import base64
import io
import json
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from tator.zoo.synthetic import make_detection_dataset  # noqa: E402
from validation.context import Row, ValidationContext  # noqa: E402

INFERENCE = "SAM3 (Inference & Registry)"
TRAINING = "SAM3 Training"
HELPER = "SAM3 Prompt Helper"
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


def _image(width: int = 1200, height: int = 800) -> str:
    pixels = np.full((height, width, 3), 20, dtype=np.uint8)
    pixels[200:500, 300:700] = (200, 40, 40)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, f"{response.request.url.path}: {response.status_code} {response.text[:300]}"
    return dict(response.json()) if isinstance(response.json(), dict) else {"items": response.json()}


def _dataset(ctx: ValidationContext) -> str:
    if "sam3_dataset" in ctx.shared:
        return str(ctx.shared["sam3_dataset"])
    name = f"validate_sam3_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"
    ds = make_detection_dataset(ctx.workdir / name / name, n_train=12, n_val=4, image_size=128)
    archive = ctx.workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    with open(archive, "rb") as handle:
        _ok(ctx.http.post("/datasets/upload", files={"file": (archive.name, handle, "application/zip")}))
    ctx.shared["sam3_dataset"] = name
    return name


def _wait(ctx: ValidationContext, path: str, timeout: float = 900.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = _ok(ctx.http.get(path))
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, f"{path} still {body['status']}"
        time.sleep(0.3)


def check_prompts(ctx: ValidationContext) -> str:
    image = _image()
    point = _ok(ctx.http.post("/sam_point", json={"image_base64": image, "point_x": 500, "point_y": 350}))
    token = point["image_token"]
    assert point["mask"] is None or point["mask"]["size"] == [800, 1200], point["mask"]
    box = {"bbox_left": 300, "bbox_top": 200, "bbox_width": 400, "bbox_height": 300}
    _ok(ctx.http.post("/sam_bbox", json={"image_token": token, **box}))
    text = _ok(
        ctx.http.post("/sam3/text_prompt", json={"image_token": token, "text_prompt": "red box", "threshold": 0})
    )
    visual = _ok(ctx.http.post("/sam3/visual_prompt", json={"image_token": token, **box, "threshold": 0}))
    bad = ctx.http.post("/sam_bbox", json={"image_token": token, **box, "bbox_width": 0})
    assert (bad.status_code, bad.json()["detail"]) == (422, "invalid_bbox"), bad.text
    return f"point bbox {point['bbox']}; text {len(text['detections'])} dets; visual {len(visual['detections'])} dets"


def check_text_auto(ctx: ValidationContext) -> str:
    body = _ok(ctx.http.post("/sam3/text_prompt_auto", json={"image_base64": _image(), "text_prompt": "box",
                                                              "threshold": 0, "max_results": 3}))  # fmt: skip
    assert body["warnings"] == ["clip_unavailable"] or body["detections"], body["warnings"]
    return f"{len(body['detections'])} detections, warnings {body['warnings']}"


def check_models(ctx: ValidationContext) -> str:
    models = _ok(ctx.http.get("/sam3/models/available"))["items"]
    assert models and models[0]["id"] == "base", models
    outside = ctx.http.post("/sam3/models/activate", json={"checkpoint_path": "/etc"})
    assert outside.json()["detail"] == "sam3_checkpoint_path_invalid", outside.text
    active = _ok(ctx.http.post("/sam3/models/activate", json={"checkpoint_path": None}))["active"]
    assert active["id"] == "base"
    return f"{len(models)} models; outside path refused; base active"


def check_train_routes(ctx: ValidationContext) -> str:
    dataset = _dataset(ctx)
    converted = _ok(ctx.http.post(f"/sam3/datasets/{dataset}/convert"))
    size = _ok(ctx.http.get("/sam3/train/cache_size"))["bytes"]
    purged = _ok(ctx.http.post("/sam3/train/cache/purge"))
    missing = ctx.http.get("/sam3/train/jobs/nope")
    assert missing.json()["detail"] == "sam3_job_not_found", missing.text
    return f"converted {converted['counts']}; cache {size} B purged {purged['deleted_bytes']} B"


def check_training_run(ctx: ValidationContext) -> str:
    dataset = _dataset(ctx)
    job = _ok(ctx.http.post("/sam3/train/jobs", json={"dataset_id": dataset, "max_epochs": 3, "lr_scale": 10}))
    done = _wait(ctx, f"/sam3/train/jobs/{job['job_id']}")
    assert done["status"] == "succeeded", done.get("error")
    run_id = done["result"]["run_id"]
    models = {m["id"]: m for m in _ok(ctx.http.get("/sam3/models"))["items"]}
    assert run_id in models, list(models)
    _ok(ctx.http.post("/sam3/models/activate", json={"checkpoint_path": models[run_id]["path"]}))
    _ok(ctx.http.post("/sam3/text_prompt", json={"image_base64": _image(), "text_prompt": "box", "threshold": 0}))
    _ok(ctx.http.post("/sam3/models/activate", json={"checkpoint_path": None}))
    _ok(ctx.http.delete(f"/sam3/storage/runs/{run_id}"))
    losses = done["result"]["train_loss"]
    return f"loss {losses[0]:.2f} -> {losses[-1]:.2f}; checkpoint listed, activated, prompted, deleted"


def check_prompt_helper(ctx: ValidationContext) -> str:
    dataset = _dataset(ctx)
    suggested = _ok(ctx.http.post("/sam3/prompt_helper/suggest", json={"dataset_id": dataset}))
    expanded = _ok(ctx.http.post("/sam3/prompt_helper/expand", json={"dataset_id": dataset, "class_id": 0,
                                                                     "base_prompts": ["shape"]}))  # fmt: skip
    unknown = ctx.http.post("/sam3/prompt_helper/expand", json={"dataset_id": dataset, "class_id": 99})
    assert unknown.json()["detail"] == "recipe_class_not_found", unknown.text
    job = _ok(ctx.http.post("/sam3/prompt_helper/jobs", json={"dataset_id": dataset, "sample_per_class": 2,
                                                              "max_synonyms": 1, "max_dets": 5}))  # fmt: skip
    done = _wait(ctx, f"/sam3/prompt_helper/jobs/{job['job_id']}")
    assert done["status"] == "succeeded", done.get("error")
    form = {"dataset_id": dataset, "label": "v", "prompts_json": '{"0": ["square"]}'}
    preset = _ok(ctx.http.post("/sam3/prompt_helper/presets", data=form))
    _ok(ctx.http.get(f"/sam3/prompt_helper/presets/{preset['id']}"))
    classes = len(suggested["classes"])
    return f"{classes} classes suggested; expand {len(expanded['new_prompts'])} new; job {done['job_id']} scored"


def check_helper_to_prepass(ctx: ValidationContext) -> str:
    """The helper ranks each class's prompts, its top prompts are saved as a preset and read back (the export),
    the preset becomes the dataset's glossary, and the prepass prompts SAM3 with those terms."""
    dataset = _dataset(ctx)
    job = _ok(ctx.http.post("/sam3/prompt_helper/jobs", json={"dataset_id": dataset, "sample_per_class": 2,
                                                              "max_synonyms": 2, "max_dets": 5}))  # fmt: skip
    done = _wait(ctx, f"/sam3/prompt_helper/jobs/{job['job_id']}")
    assert done["status"] == "succeeded", done.get("error")
    chosen = {str(c["class_id"]): [p["prompt"] for p in c["prompts"][:2]] for c in done["result"]["classes"]}
    assert all(chosen.values()), chosen
    form = {"dataset_id": dataset, "label": "helper picks", "prompts_json": json.dumps(chosen)}
    preset = _ok(ctx.http.post("/sam3/prompt_helper/presets", data=form))
    exported = _ok(ctx.http.get(f"/sam3/prompt_helper/presets/{preset['id']}"))
    names = {str(c["class_id"]): c["class_name"] for c in done["result"]["classes"]}
    stored = exported["prompts_by_class"]
    assert stored == chosen, stored
    glossary = "\n".join(f"{names[k]}: {', '.join(v)}" for k, v in sorted(stored.items()))
    _ok(ctx.http.post(f"/datasets/{dataset}/glossary", json={"glossary": glossary}))
    answer = _ok(ctx.http.post("/qwen/prepass", json={
        "dataset_id": dataset, "image_base64": _image(), "enable_yolo": False, "enable_rfdetr": False,
        "enable_sam3_similarity": False, "sam3_text_window_extension": False, "prepass_sam3_text_thr": 0.0,
        "sam3_max_results": 5}))  # fmt: skip
    sent = next(e["tool_input"]["prompts"] for e in answer["trace"] if e["tool_name"] == "sam3_text")
    prompted = {term for prompts in sent.values() for term in prompts}
    picked = {p for prompts in stored.values() for p in prompts}
    assert picked <= prompted, (picked, sent)  # every helper pick became a SAM3 prompt of its class
    kept = {d["sam3_prompt_term"] for d in answer["detections"] if d.get("sam3_prompt_term")} & picked
    return (f"helper job {done['job_id']} ranked prompts for {len(chosen)} classes; preset {preset['id']} saved and "
            f"read back; as the glossary, the prepass prompted SAM3 with all {len(picked)} of them (trace), "
            f"{len(kept)} among the kept boxes' prompts")  # fmt: skip


ROWS: list[Row] = [
    (INFERENCE, "`/sam3/text_prompt`, `/sam3/visual_prompt`, `/sam_point`, `/sam_bbox`", check_prompts),
    (INFERENCE, "`/sam3/text_prompt_auto`", check_text_auto),
    (INFERENCE, "`/sam3/models` + `/sam3/models/activate`", check_models),
    (TRAINING, "`/sam3/train/jobs` + cache purge", check_train_routes),
    (TRAINING, "Actual training run", check_training_run),
    (HELPER, "`/sam3/prompt_helper/*` endpoints", check_prompt_helper),
    (HELPER, "Full helper job + preset save/export + prepass glossary expansion", check_helper_to_prepass),
]

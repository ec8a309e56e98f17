"""Rows of the prepass: `/qwen/prepass` on one image and the dataset prepass job (`/prepass/jobs`).

They run after the detector rows (module order), so the YOLO and RF-DETR runs those rows trained and activated
are the detectors here; SAM3 is the server's base (or active) model.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from validation.context import Row, ValidationContext
from validation.datasets import _unique, make_zip, upload

FAST = {"detector_conf": 0.001, "prepass_sam3_text_thr": 0.0, "sam3_max_results": 5, "sahi_window_size": 64,
        "similarity_min_exemplar_score": 0.0, "similarity_exemplar_count": 1}  # fmt: skip


def _dataset(ctx: ValidationContext) -> dict[str, Any]:
    if "prepass_dataset" not in ctx.shared:
        name = _unique("validate_prepass")
        archive, ds = make_zip(ctx, name)
        meta = upload(ctx, archive)
        glossary = "\n".join(f"{label}: {label.split('_')[-1]}" for label in ds.labelmap)
        ctx.http.post(f"/datasets/{meta['id']}/glossary", json={"glossary": glossary}).raise_for_status()
        image = sorted((ds.root / "val" / "images").iterdir())[0]
        ctx.shared["prepass_dataset"] = {"id": meta["id"], "labelmap": list(ds.labelmap),
                                         "image_b64": base64.b64encode(image.read_bytes()).decode()}  # fmt: skip
    return dict(ctx.shared["prepass_dataset"])


def _prepass(ctx: ValidationContext, **body: Any) -> dict[str, Any]:
    response = ctx.http.post("/qwen/prepass", json=body, timeout=900)
    assert response.status_code == 200, response.text
    return dict(response.json())


def check_prepass(ctx: ValidationContext) -> str:
    dataset = _dataset(ctx)
    for body, code in (
        ({"dataset_id": dataset["id"], "enable_yolo": False, "enable_rfdetr": False, "enable_sam3_text": False,
          "enable_sam3_similarity": False}, "prepass_no_source"),
        ({"dataset_id": "validate_missing_dataset"}, "dataset_not_found"),
        ({"dataset_id": dataset["id"], "classifier_id": "missing.npz"}, "classifier_not_found"),
    ):  # fmt: skip
        refused = ctx.http.post("/qwen/prepass", json=body)
        assert 400 <= refused.status_code < 500 and refused.json()["detail"] == code, refused.text
    answer = _prepass(ctx, dataset_id=dataset["id"], image_base64=dataset["image_b64"], **FAST)
    detections = answer["detections"]
    assert answer["labelmap"] == dataset["labelmap"] and detections, answer["warnings"]
    for d in detections:
        assert d["label"] == dataset["labelmap"][d["class_id"]] and d["source_primary"] in d["source_list"]
        assert set(d["score_by_source"]) == set(d["source_list"]) and d["prepass_atom_ids"]
        assert len(d["bbox_xyxy_px"]) == len(d["bbox_xywh_px"]) == len(d["bbox_2d"]) == len(d["bbox_yolo"]) == 4
    tools = sorted({e["tool_name"] for e in answer["trace"] if e["phase"] == "tool_result"})
    if ctx.http.get("/yolo/active").raise_for_status().json().get("run_id"):
        assert "yolo" in tools, tools  # the run the YOLO rows trained and activated
    sources = sorted({s for d in detections for s in d["source_list"]})
    return f"{len(detections)} boxes from {sources}; steps {tools}; 3 bad inputs refused with their codes"


def check_sam3_in_prepass(ctx: ValidationContext) -> str:
    dataset = _dataset(ctx)
    answer = _prepass(ctx, dataset_id=dataset["id"], image_base64=dataset["image_b64"], enable_yolo=False,
                      enable_rfdetr=False, **FAST)  # fmt: skip
    text = [e for e in answer["trace"] if e["tool_name"] == "sam3_text" and e["phase"] == "tool_result"]
    assert text and text[0]["windows"][0] == "full" and len(text[0]["windows"]) == 5, answer["trace"]
    similar = [e for e in answer["trace"] if e["tool_name"] == "sam3_similarity"]
    terms = {d["sam3_prompt_term"] for d in answer["detections"] if d["sam3_prompt_term"]}
    cells = {d["grid_cell"] for d in answer["detections"] if d["grid_cell"]}
    step = similar[0]["phase"] if similar else "absent"
    return (f"SAM3 text on full + {len(text[0]['windows']) - 1} grid cells ({len(terms)} terms incl. glossary), "
            f"similarity step {step}, boxes from cells {sorted(cells)}")  # fmt: skip


def _wait(ctx: ValidationContext, job_id: str, timeout: float = 1800) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(ctx.http.get(f"/prepass/jobs/{job_id}").raise_for_status().json())
        if body["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return body
        assert time.monotonic() < deadline, f"prepass job still {body['status']} after {timeout}s"
        time.sleep(0.5)


def check_dataset_job(ctx: ValidationContext) -> str:
    dataset = _dataset(ctx)
    missing = ctx.http.post("/prepass/jobs", json={"dataset_id": "validate_missing_dataset"})
    assert missing.status_code == 404 and missing.json()["detail"] == "dataset_not_found", missing.text
    detectors = bool(ctx.http.get("/yolo/active").raise_for_status().json().get("run_id"))
    sources = {"enable_sam3_text": not detectors, "grid_cols": 1, "grid_rows": 1, "enable_sam3_similarity": False}
    body = {"dataset_id": dataset["id"], **FAST, **sources}
    first = _wait(ctx, ctx.http.post("/prepass/jobs", json=body).raise_for_status().json()["job_id"])
    assert first["status"] == "succeeded", first["error"]
    again = _wait(ctx, ctx.http.post("/prepass/jobs", json=body).raise_for_status().json()["job_id"])
    assert again["status"] == "succeeded" and again["result"]["cached"] == first["result"]["images"], again["result"]
    listed = {d["id"] for d in ctx.http.get("/datasets").raise_for_status().json()}
    proposals = first["result"]["proposals_dataset_id"]
    assert proposals in listed, proposals
    missing_job = ctx.http.get("/prepass/jobs/does-not-exist")
    assert missing_job.status_code == 404 and missing_job.json()["detail"] == "prepass_job_not_found"
    result = first["result"]
    return (f"{result['images']} images, {result['candidates']} candidates -> dataset {proposals} (listed); "
            f"rerun read {again['result']['cached']} images from the cache; 404s for unknown ids")  # fmt: skip


ROWS: list[Row] = [
    ("YOLO Inference", "Inference with trained run in prepass pipeline", check_prepass),
    ("SAM3 (Inference & Registry)", "Heavy-use SAM3 in prepass (windowed + full)", check_sam3_in_prepass),
    ("Prepass", "`/prepass/jobs` dataset prepass: proposals dataset, cache reuse, 4xx before queueing",
     check_dataset_job),
]  # fmt: skip

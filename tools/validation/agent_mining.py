"""Rows of the matrix's Agent Mining section: the mining routes and their refusals, then a real mining job to
completion, the mining cache (size, reuse, purge) and the mined recipe applied with `apply_image` and
`apply_image_chain`. The server runs on the tiny zoo (random weights): rows check shapes, codes and that a
recipe does on its images what its summary says, not accuracy."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from validation.context import Row, ValidationContext  # noqa: E402
from validation.sam3 import _dataset, _ok, _wait  # noqa: E402

SECTION = "Agent Mining"
MINING = {"classes": [0], "eval_image_count": 4, "threshold_candidates": [0.0, 0.3], "seed_threshold": 0.0,
          "max_visual_seeds": 2, "iou_threshold": 0.1, "max_results": 20, "steps_max_steps_per_recipe": 2}  # fmt: skip


def _code(response: Any, status: int, code: str) -> None:
    assert (response.status_code, response.json().get("detail")) == (status, code), response.text[:300]


def check_endpoints(ctx: ValidationContext) -> str:
    dataset = _dataset(ctx)
    _code(ctx.http.post("/agent_mining/jobs", json={"dataset_id": "validate_no_such_dataset"}), 404,
          "sam3_dataset_not_found")  # fmt: skip
    _code(ctx.http.post("/agent_mining/jobs", json={"dataset_id": dataset, "clip_head_classifier_path": "../x.npz"}),
          400, "agent_clip_classifier_path_not_allowed")  # fmt: skip
    _code(ctx.http.post("/agent_mining/apply_image", json={"image_base64": "x", "recipe": {}}), 422, "recipe_required")
    _code(ctx.http.post("/agent_mining/apply_image_chain", json={"image_base64": "x", "steps": []}), 422,
          "steps_required")  # fmt: skip
    _code(ctx.http.get("/agent_mining/jobs/am_nope"), 404, "agent_mining_job_not_found")
    listed = ctx.http.get("/agent_mining/jobs")
    size = _ok(ctx.http.get("/agent_mining/cache_size"))
    assert {"bytes", "files", "max_bytes", "ttl_hours"} <= set(size), size
    return f"refusals coded; {len(listed.json())} jobs listed; cache {size['bytes']} bytes"


def _sampled_image(ctx: ValidationContext, dataset: str, name: str) -> str:
    root = next(d["dataset_root"] for d in _ok(ctx.http.get("/datasets"))["items"] if d["id"] == dataset)
    return base64.b64encode((Path(root) / name).read_bytes()).decode()


def check_mining_run(ctx: ValidationContext) -> str:
    dataset = _dataset(ctx)
    job = _ok(ctx.http.post("/agent_mining/jobs", json={"dataset_id": dataset, **MINING}))
    done = _wait(ctx, f"/agent_mining/jobs/{job['job_id']}")
    assert done["status"] == "succeeded", done.get("error")
    entry = done["result"]["classes"][0]
    recipe = entry["recipe"]
    applied = 0
    for row in recipe["summary"]["per_image"]:
        image = _sampled_image(ctx, dataset, row["image"])
        answer = _ok(ctx.http.post("/agent_mining/apply_image", json={"image_base64": image, "recipe": recipe}))
        assert len(answer["detections"]) == row["detections"], (row, len(answer["detections"]))
        applied += len(answer["detections"])
    chain = _ok(ctx.http.post("/agent_mining/apply_image_chain", json={
        "image_base64": image, "steps": [{"recipe": recipe}, {"recipe": recipe, "override_class_name": "copy"}],
        "dedupe": {"cross_class_enabled": True}}))  # fmt: skip
    assert len(chain["detections"]) == row["detections"], chain["warnings"]
    round_trip = _export_import(ctx, dataset, entry, recipe, image, row["detections"])
    rerun = _ok(ctx.http.post("/agent_mining/jobs", json={"dataset_id": dataset, **MINING}))
    again = _wait(ctx, f"/agent_mining/jobs/{rerun['job_id']}")
    assert again["result"]["cache"]["misses"] == 0, again["result"]["cache"]
    size = _ok(ctx.http.get("/agent_mining/cache_size"))
    purged = _ok(ctx.http.post("/agent_mining/cache/purge"))
    assert _ok(ctx.http.get("/agent_mining/cache_size"))["files"] == 0
    summary = recipe["summary"]
    return (f"job {done['job_id']}: {len(recipe['steps'])} steps, {summary['matches']}/{summary['gts']} matched, "
            f"head filter {entry['head_filter']}; apply_image reproduced {applied} detections; chain merged; "
            f"{round_trip}; rerun all cache hits; purged {purged['deleted_files']}/{size['files']} files")  # fmt: skip


def _export_import(ctx: ValidationContext, dataset: str, entry: dict[str, Any], recipe: dict[str, Any], image: str,
                   expected: int) -> str:  # fmt: skip
    """Save the mined recipe, export it, import the zip (renamed), and apply the imported one by id."""
    body = {"dataset_id": dataset, "class_id": entry.get("class_id", 0), "label": f"{dataset}_mined", "recipe": recipe}
    saved = _ok(ctx.http.post("/agent_mining/recipes", json=body))
    made = [saved["id"]]
    try:
        exported = ctx.http.get(f"/agent_mining/recipes/{saved['id']}/export").raise_for_status().content
        files = {"file": ("mined.zip", exported, "application/zip")}
        imported = _ok(ctx.http.post("/agent_mining/recipes/import", files=files))
        made.append(imported["id"])
        assert imported["recipe"]["steps"] == saved["recipe"]["steps"], imported
        chain = _ok(ctx.http.post("/agent_mining/apply_image_chain", json={
            "image_base64": image, "steps": [{"recipe_id": imported["id"]}]}))  # fmt: skip
        assert len(chain["detections"]) == expected, (expected, chain["warnings"])
    finally:
        for recipe_id in made:
            ctx.http.delete(f"/agent_mining/recipes/{recipe_id}")
    return f"recipe saved, exported ({len(exported)} bytes), imported as {imported['id']} and applied by id"


ROWS: list[Row] = [
    (SECTION, "`/agent_mining/*` endpoints", check_endpoints),
    (SECTION, "Real mining job + recipe export/import + cache purge + apply_image_chain", check_mining_run),
]

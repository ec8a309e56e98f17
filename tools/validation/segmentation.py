"""Rows of the matrix's Segmentation Build section: the job routes' contract (refusals before queueing, 404s),
and a build to completion whose new dataset `/datasets` lists as a YOLO-seg dataset. The server runs on the
tiny zoo (random SAM weights): the rows check the build's plumbing and counts, not mask quality. They upload
a synthetic bbox dataset and delete what they make."""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from validation.context import Row, ValidationContext  # noqa: E402
from validation.datasets import make_zip, upload  # noqa: E402

SECTION = "Segmentation Build"
JOBS = "/segmentation/build/jobs"
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


def _source(ctx: ValidationContext) -> str:
    if "segmentation_source" not in ctx.shared:
        name = f"validate_seg_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"
        archive, _ = make_zip(ctx, name)
        ctx.shared["segmentation_source"] = upload(ctx, archive, dataset_id=name)["id"]
    return str(ctx.shared["segmentation_source"])


def _code(response: Any) -> tuple[int, str]:
    return response.status_code, response.json().get("detail")


def check_routes(ctx: ValidationContext) -> str:
    source = _source(ctx)
    refusals = {
        "unknown dataset": ({"source_dataset_id": "no_such_dataset"}, (404, "segmentation_source_metadata_missing")),
        "existing output": ({"source_dataset_id": source, "output_name": source}, (409, "segmentation_output_exists")),
        "bad output name": ({"source_dataset_id": source, "output_name": "../x"},
                            (400, "segmentation_output_path_invalid")),
    }  # fmt: skip
    for label, (body, expected) in refusals.items():
        got = _code(ctx.http.post(JOBS, json=body))
        assert got == expected, f"{label}: {got}"
    listed = ctx.http.get(JOBS)
    assert listed.status_code == 200 and isinstance(listed.json(), list), listed.text
    assert _code(ctx.http.get(f"{JOBS}/nope")) == (404, "segmentation_job_not_found")
    assert _code(ctx.http.post(f"{JOBS}/nope/cancel")) == (404, "segmentation_job_not_found")
    return f"{len(refusals)} refusals with their codes before queueing; list ok; unknown job 404"


def _wait(ctx: ValidationContext, job_id: str, timeout: float = 900.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = ctx.http.get(f"{JOBS}/{job_id}").json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, f"build {job_id} still {body['status']}"
        time.sleep(0.5)


def check_build(ctx: ValidationContext) -> str:
    source = _source(ctx)
    output = f"{source}_seg"
    started = ctx.http.post(JOBS, json={"source_dataset_id": source, "output_name": output})
    assert started.status_code == 200, started.text
    done = _wait(ctx, started.json()["job_id"])
    assert done["status"] == "succeeded", done.get("error")
    result = done["result"]
    entries = {d["id"]: d for d in ctx.http.get("/datasets").json()}
    assert output in entries, sorted(entries)
    entry = entries[output]
    assert entry["type"] == "seg" and entry["yolo_seg_ready"], entry
    assert entry["box_count"] == entries[source]["box_count"] == result["boxes"], (entry, result)
    check = ctx.http.get(f"/datasets/{output}/check")
    assert check.status_code == 200 and check.json()["ok"], check.text
    again = ctx.http.post(JOBS, json={"source_dataset_id": output})
    assert _code(again) == (400, "segmentation_builder_requires_bbox"), again.text
    for dataset_id in (output, source):
        assert ctx.http.delete(f"/datasets/{dataset_id}").status_code == 200
    ctx.shared.pop("segmentation_source", None)
    return (f"{result['images']} images, {result['boxes']} boxes -> {result['polygons']} polygons, "
            f"{result['fallbacks']} box fallbacks; listed as seg, checked, deleted")  # fmt: skip


ROWS: list[Row] = [
    (SECTION, "`/segmentation/build/jobs`", check_routes),
    (SECTION, "Actual segmentation build", check_build),
]

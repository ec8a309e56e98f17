"""`/segmentation/build/jobs`: a bbox dataset (YOLO or COCO) becomes a new YOLO-seg dataset, refusals come
before anything is queued, and the source is never written."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.sam3.support import sam_client
from tests.datasets.zips import coco_zip, png_bytes, yolo_zip, zip_entries

__all__ = ["sam_client"]
TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
JOBS = "/segmentation/build/jobs"


def _upload(client: TestClient, archive: Path, dataset_id: str, **form: str) -> dict[str, Any]:
    with open(archive, "rb") as handle:
        response = client.post(
            "/datasets/upload", files={"file": (archive.name, handle, "application/zip")},
            data={"dataset_id": dataset_id, **form},
        )  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait(client: TestClient, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"{JOBS}/{job_id}").json()
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def _error(response: Any) -> tuple[int, str]:
    return response.status_code, response.json()["detail"]


@pytest.fixture
def shapes(sam_client: TestClient, tmp_path: Path) -> dict[str, Any]:
    archive, _ = yolo_zip(tmp_path, "shapes")
    return _upload(sam_client, archive, "shapes")


def test_build_writes_a_new_seg_dataset_and_leaves_the_source_alone(
    sam_client: TestClient, shapes: dict[str, Any]
) -> None:
    source_root = Path(next(d for d in sam_client.get("/datasets").json() if d["id"] == "shapes")["dataset_root"])
    before = _digest(source_root)
    started = sam_client.post(JOBS, json={"source_dataset_id": "shapes", "output_name": "shapes_seg"})
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["config"]["planned_metadata"]["id"] == "shapes_seg" and body["config"]["output_format"] == "yolo-seg"
    done = _wait(sam_client, body["job_id"])
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    assert result["output_dataset_id"] == "shapes_seg" and result["images"] == shapes["image_count"]
    assert result["boxes"] == shapes["box_count"] and result["polygons"] + result["fallbacks"] == result["boxes"]
    assert sum(result["fallback_reasons"].values()) == result["fallbacks"]
    assert _digest(source_root) == before
    entry = next(d for d in sam_client.get("/datasets").json() if d["id"] == "shapes_seg")
    assert entry["type"] == "seg" and entry["yolo_seg_ready"] and entry["box_count"] == shapes["box_count"]
    assert entry["classes"] == shapes["classes"] and entry["train_count"] == shapes["train_count"]
    lines = [line for p in Path(entry["dataset_root"]).rglob("labels/*.txt") for line in p.read_text().splitlines()]
    assert len(lines) == shapes["box_count"] and all(len(line.split()) >= 7 for line in lines)
    check = sam_client.get("/datasets/shapes_seg/check")
    assert check.status_code == 200 and check.json()["ok"], check.text
    listed = sam_client.get(JOBS).json()
    assert [j["job_id"] for j in listed] == [body["job_id"]]
    again = sam_client.post(JOBS, json={"source_dataset_id": "shapes_seg"})
    assert _error(again) == (400, "segmentation_builder_requires_bbox")
    default = sam_client.post(JOBS, json={"source_dataset_id": "shapes", "sam_variant": "sam1"})
    assert default.json()["config"]["planned_metadata"]["id"] == "shapes_seg_1"
    assert _wait(sam_client, default.json()["job_id"])["status"] == "succeeded"


def test_a_coco_source_builds_too(sam_client: TestClient, tmp_path: Path) -> None:
    _upload(sam_client, coco_zip(tmp_path), "animals")
    done = _wait(sam_client, sam_client.post(JOBS, json={"source_dataset_id": "animals"}).json()["job_id"])
    assert done["status"] == "succeeded", done["error"]
    entry = next(d for d in sam_client.get("/datasets").json() if d["id"] == "animals_seg")
    assert entry["classes"] == ["cat", "dog", "bird"] and entry["type"] == "seg"


@pytest.mark.usefixtures("shapes")
def test_bad_input_is_refused_before_anything_is_queued(sam_client: TestClient, tmp_path: Path) -> None:
    assert _error(sam_client.post(JOBS, json={"source_dataset_id": "nope"})) == (
        404, "segmentation_source_metadata_missing"
    )  # fmt: skip
    taken = sam_client.post(JOBS, json={"source_dataset_id": "shapes", "output_name": "shapes"})
    assert _error(taken) == (409, "segmentation_output_exists")
    bad_name = sam_client.post(JOBS, json={"source_dataset_id": "shapes", "output_name": "../x"})
    assert _error(bad_name) == (400, "segmentation_output_path_invalid")
    variant = sam_client.post(JOBS, json={"source_dataset_id": "shapes", "sam_variant": "sam9"})
    assert _error(variant) == (422, "sam_variant_unknown")
    threshold = sam_client.post(JOBS, json={"source_dataset_id": "shapes", "mask_threshold": 2})
    assert threshold.status_code == 422
    seg_zip, _ = yolo_zip(tmp_path, "polys", polygons=True)
    _upload(sam_client, seg_zip, "polys", dataset_type="seg")
    assert _error(sam_client.post(JOBS, json={"source_dataset_id": "polys"})) == (
        400, "segmentation_builder_requires_bbox"
    )  # fmt: skip
    images_only = zip_entries(tmp_path / "bare.zip", [("bare/images/a.png", png_bytes())])
    _upload(sam_client, images_only, "bare")
    assert _error(sam_client.post(JOBS, json={"source_dataset_id": "bare"})) == (400, "segmentation_builder_no_boxes")
    assert sam_client.get(JOBS).json() == []
    assert _error(sam_client.get(f"{JOBS}/nope")) == (404, "segmentation_job_not_found")


@pytest.mark.usefixtures("shapes")
def test_cancel_stops_the_build_and_installs_nothing(sam_client: TestClient) -> None:
    job = sam_client.post(JOBS, json={"source_dataset_id": "shapes", "output_name": "cancelled_seg"}).json()
    cancelled = sam_client.post(f"{JOBS}/{job['job_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] in ("cancelled", "cancelling")
    assert _wait(sam_client, job["job_id"])["status"] == "cancelled"
    assert "cancelled_seg" not in [d["id"] for d in sam_client.get("/datasets").json()]
    late = sam_client.post(f"{JOBS}/{job['job_id']}/cancel")
    assert _error(late) == (409, "job_not_cancellable")

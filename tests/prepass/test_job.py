"""The dataset prepass job through its routes: bad input before queueing, proposals dataset, cache reuse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings
from tests.api.test_detectors import make_run
from tests.datasets.zips import png_bytes, yolo_zip, zip_tree

YOLO_ONLY = {"enable_rfdetr": False, "enable_sam3_text": False, "enable_sam3_similarity": False, "detector_conf": 0.001}


def wait(client: TestClient, job_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(client.get(f"/prepass/jobs/{job_id}").json())
        if body["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def upload(client: TestClient, archive: Path, dataset_id: str) -> None:
    with open(archive, "rb") as handle:
        files = {"file": (archive.name, handle, "application/zip")}
        response = client.post("/datasets/upload", files=files, data={"dataset_id": dataset_id})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def job_client(tmp_path_factory: pytest.TempPathFactory, tiny_zoo: dict[str, Path]) -> Iterator[TestClient]:
    tmp = tmp_path_factory.mktemp("prepass-job")
    settings = Settings(data_dir=tmp / "data", device="cpu", log_level="WARNING")
    make_run(settings.uploads_dir / "yolo_runs", "run1", tiny_zoo["yolo"], "best.pt")
    with TestClient(create_app(settings)) as client:
        assert client.post("/yolo/active", json={"run_id": "run1"}).status_code == 200
        upload(client, yolo_zip(tmp)[0], "shapes")
        bare = tmp / "bare" / "images"
        bare.mkdir(parents=True)
        (bare / "a.png").write_bytes(png_bytes())
        upload(client, zip_tree(tmp / "bare", tmp / "bare.zip"), "bare")
        yield client


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"dataset_id": "nope"}, 404, "dataset_not_found"),
        ({"dataset_id": "bare"}, 400, None),
        ({"dataset_id": "shapes", "enable_yolo": False, **{k: False for k in YOLO_ONLY if k.startswith("enable")}},
         400, "prepass_no_source"),
        ({"dataset_id": "shapes", "classifier_id": "nope.npz", **YOLO_ONLY}, 404, "classifier_not_found"),
        ({"dataset_id": "shapes", "cross_iou": 0.5}, 422, None),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_queueing(
    job_client: TestClient, body: dict[str, Any], status: int, code: str | None
) -> None:
    before = len(job_client.get("/prepass/jobs").json())
    response = job_client.post("/prepass/jobs", json=body)
    assert response.status_code == status, response.text
    assert 400 <= status < 500 and (code is None or response.json()["detail"] == code)
    assert len(job_client.get("/prepass/jobs").json()) == before


def _proposals(client: TestClient, dataset_id: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    entry = next(d for d in client.get("/datasets").json() if d["id"] == dataset_id)
    root = Path(entry["dataset_root"])
    labels = {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.glob("*/labels/*.txt"))}
    sidecar = [json.loads(line) for line in (root / "prepass_proposals.jsonl").read_text().splitlines()]
    return labels, sidecar


def test_job_writes_a_reviewable_proposals_dataset_and_reuses_the_cache(job_client: TestClient) -> None:
    first = job_client.post("/prepass/jobs", json={"dataset_id": "shapes", **YOLO_ONLY})
    assert first.status_code == 202, first.text
    done = wait(job_client, first.json()["job_id"])
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["images"] == 9 and result["computed"] == 9 and result["cached"] == 0
    assert done["config"]["images"] == 9
    proposals = result["proposals_dataset_id"]
    entry = next(d for d in job_client.get("/datasets").json() if d["id"] == proposals)
    assert entry["classes"] == ["red_square", "green_circle", "blue_triangle"] and entry["yolo_ready"]
    labels, sidecar = _proposals(job_client, proposals)
    assert len(sidecar) == 9 and sum(len(s["detections"]) for s in sidecar) == result["candidates"] > 0
    for line in sidecar:
        rows = labels[line["labels"]].splitlines()
        assert len(rows) == len(line["detections"])
        for row, det in zip(rows, line["detections"], strict=True):
            assert int(row.split()[0]) == det["class_id"] and det["source_list"] == ["yolo"]
            assert [float(v) for v in row.split()[1:]] == pytest.approx(det["bbox_yolo"], abs=1e-5)
    again = wait(
        job_client, job_client.post("/prepass/jobs", json={"dataset_id": "shapes", **YOLO_ONLY}).json()["job_id"]
    )
    assert again["result"]["cached"] == 9 and again["result"]["computed"] == 0
    assert again["result"]["config_key"] == result["config_key"]
    assert _proposals(job_client, again["result"]["proposals_dataset_id"]) == (labels, sidecar)
    fresh = job_client.post("/prepass/jobs", json={"dataset_id": "shapes", **YOLO_ONLY, "detector_conf": 0.5})
    assert fresh.json()["config_key"] != result["config_key"]
    assert wait(job_client, fresh.json()["job_id"])["result"]["cached"] == 0

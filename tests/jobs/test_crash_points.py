"""A real server killed at the end of a YOLO training job (finding 4 of the crash probe): after the
restart the job and the run tell one story, and the completion step (activation) has happened once."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.datasets.zips import yolo_zip
from tests.support.server_process import ServerProcess, start_tator

TRAIN = {"dataset_id": "shapes", "accept_tos": True, "from_scratch": True, "epochs": 1, "img_size": 64, "batch": 4}


def start(data_dir: Path, **env: str) -> ServerProcess:
    server = start_tator(data_dir, {"TATOR_DEVICE": "cpu", "TATOR_MODEL_ZOO": "tiny", **env})
    server.wait_ready(timeout=60)
    return server


@pytest.mark.parametrize("point", ["job.before_completion", "job.after_completion"])
def test_killed_at_the_end_of_training_then_restarted_agrees_and_activates(
    tmp_path: Path, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path, point: str
) -> None:
    assert tiny_zoo
    data_dir = tmp_path / "data"
    (data_dir / "uploads").mkdir(parents=True)
    os.symlink(tiny_zoo_dir, data_dir / "uploads" / "zoo")
    archive, _ = yolo_zip(tmp_path)
    server = start(data_dir, TATOR_TEST_KILL_AT=point)
    with httpx.Client(base_url=server.base_url, timeout=30) as http, open(archive, "rb") as handle:
        assert http.post("/datasets/upload", files={"file": (archive.name, handle, "application/zip")}).is_success
        job_id = http.post("/yolo/train/jobs", json=TRAIN).json()["job_id"]
    server.process.wait(300)  # the server kills itself at `point`
    server.kill_hard()
    run_json = data_dir / "uploads" / "yolo_runs" / job_id / "run.json"
    before = json.loads(run_json.read_text())["status"]
    assert before == ("running" if point == "job.before_completion" else "succeeded")

    restarted = start(data_dir)
    try:
        with httpx.Client(base_url=restarted.base_url, timeout=30) as http:
            job: dict[str, Any] = http.get(f"/yolo/train/jobs/{job_id}").json()
            runs = http.get("/yolo/runs").json()
            active = http.get("/yolo/active").json()
    finally:
        restarted.stop()
    assert job["status"] == "succeeded" and job["result"]["activated"] is True, job
    assert [(r["run_id"], r["status"], r["is_active"]) for r in runs] == [(job_id, "succeeded", True)]
    assert active["run_id"] == job_id
    assert json.loads(run_json.read_text())["status"] == "succeeded"
    assert time.time() - json.loads(run_json.read_text())["created_at"] < 900

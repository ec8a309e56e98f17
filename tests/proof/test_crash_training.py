"""A real server SIGKILLed while a YOLO training runs (and a second training waits behind it), then restarted on
the same data: every job is listed with an honest state (interrupted, with its error code and the progress it
had), the runs agree, nothing is left "running" or "queued", no temporary file from before the restart remains,
and the server trains again."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.datasets.zips import yolo_zip
from tests.support.crash import leftovers, restarted, start, upload

TRAIN = {"dataset_id": "shapes", "accept_tos": True, "from_scratch": True, "img_size": 32, "batch": 4}


def _wait(http: httpx.Client, job_id: str, done: Any, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = http.get(f"/yolo/train/jobs/{job_id}").json()
        if done(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


@pytest.mark.slow
def test_kill_during_training_lists_every_job_honestly(tmp_path: Path, tiny_zoo_dir: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "uploads").mkdir(parents=True)
    os.symlink(tiny_zoo_dir, data_dir / "uploads" / "zoo")
    env = {"TATOR_MODEL_ZOO": "tiny"}
    archive, _ = yolo_zip(tmp_path)
    server = start(data_dir, env=env)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            assert upload(http, archive, dataset_id="shapes").status_code == 200
            running = http.post("/yolo/train/jobs", json=TRAIN | {"epochs": 200}).json()
            waiting = http.post("/yolo/train/jobs", json=TRAIN | {"epochs": 1}).json()
            _wait(http, running["job_id"], lambda j: j["status"] == "running" and j["progress"] > 0)
            assert http.get(f"/yolo/train/jobs/{waiting['job_id']}").json()["status"] == "queued"
    finally:
        server.kill_hard()

    uploads = data_dir / "uploads"
    with restarted(data_dir, env=env) as (http, started):
        jobs = {j["job_id"]: j for j in http.get("/jobs").json()["items"]}
        assert set(jobs) == {running["job_id"], waiting["job_id"]}
        for job in jobs.values():
            assert job["status"] == "interrupted" and job["error"]["code"] == "interrupted", job
        assert jobs[running["job_id"]]["progress"] > 0
        for job_id in jobs:
            assert http.get(f"/yolo/train/jobs/{job_id}").json()["status"] == "interrupted"
        runs = {r["run_id"]: r for r in http.get("/yolo/runs").json()}
        assert runs[running["job_id"]]["status"] == "interrupted", runs
        assert http.get("/yolo/active").json() == {}  # an interrupted run is never activated
        assert leftovers(uploads, older_than=started) == []
        again = http.post("/yolo/train/jobs", json=TRAIN | {"epochs": 1}).json()
        finished = _wait(http, again["job_id"], lambda j: j["status"] in ("succeeded", "failed"))
        assert finished["status"] == "succeeded", finished

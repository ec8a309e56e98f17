"""A real server SIGKILLed while a calibration job runs its dataset prepass: the restarted server queues the job
again under its id, the images prepassed before the kill come from the cache (their records are not rewritten),
and the job ends with an honest state."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.api.test_detectors import make_run
from tests.datasets.zips import yolo_zip
from tests.support.crash import kill_when_paused, restarted, start, upload, wait_terminal

BODY = {"dataset_id": "shapes", "enable_rfdetr": False, "enable_sam3_text": False, "enable_sam3_similarity": False,
        "ablation": False, "xgb_rounds": 20, "prepass_config": {"detector_conf": 0.001}}  # fmt: skip
KILLED_AFTER = 5  # images prepassed (and cached) when the server is killed


def test_killed_calibration_resumes_its_prepass_from_the_cache(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    data_dir = tmp_path / "data"
    make_run(data_dir / "uploads" / "yolo_runs", "run1", tiny_zoo["yolo"], "best.pt")
    archive, _ = yolo_zip(tmp_path)
    server = start(data_dir, pause_at=f"prepass.dataset.image_done.{KILLED_AFTER - 1}")
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert http.post("/yolo/active", json={"run_id": "run1"}).status_code == 200
        assert upload(http, archive, dataset_id="shapes").status_code == 200
        started = http.post("/calibration/jobs", json=BODY)
        assert started.status_code == 200, started.text
        job_id = started.json()["job_id"]
    kill_when_paused(server, data_dir)
    cache = data_dir / "uploads" / "prepass_cache"
    before = {p: p.stat().st_mtime_ns for p in cache.rglob("*.json")}
    assert len(before) == KILLED_AFTER

    with restarted(data_dir) as (http, _):
        final = wait_terminal(http, f"/calibration/jobs/{job_id}")  # nobody submits it again: the server resumes it
        assert http.get(f"/jobs/{job_id}").json()["resumes"] == 1
    after = {p: p.stat().st_mtime_ns for p in cache.rglob("*.json")}
    assert len(after) == 9 and all(after[p] == mtime for p, mtime in before.items())  # cached ones kept as they were
    # the tiny random detector may propose nothing that matches the shapes: the job then says so with its code
    assert final["status"] == "completed" or final["error"]["code"] == "calibration_candidates_unusable", final

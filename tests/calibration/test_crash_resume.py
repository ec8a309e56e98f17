"""A real server SIGKILLed while a calibration job runs its dataset prepass: the restarted server queues the job
again under its id, the images prepassed before the kill come from the cache (their records are not rewritten),
and the job ends with an honest state."""

from __future__ import annotations

from pathlib import Path

from tests.prepass.support import killed_during_prepass
from tests.support.crash import restarted, wait_terminal

BODY = {"dataset_id": "shapes", "enable_rfdetr": False, "enable_sam3_text": False, "enable_sam3_similarity": False,
        "ablation": False, "xgb_rounds": 20, "prepass_config": {"detector_conf": 0.001}}  # fmt: skip
KILLED_AFTER = 5  # images prepassed (and cached) when the server is killed


def test_killed_calibration_resumes_its_prepass_from_the_cache(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    data_dir, started = killed_during_prepass(
        tmp_path, tiny_zoo["yolo"], "/calibration/jobs", BODY, status=200, killed_after=KILLED_AFTER
    )
    job_id = started["job_id"]
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

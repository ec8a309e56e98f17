"""A real server SIGKILLed in the middle of a dataset prepass: the restarted server queues the job again under
its id, it resumes from the per-image cache and ends with exactly the output of an uninterrupted run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.prepass.support import killed_during_prepass
from tests.support.crash import restarted, wait_terminal

BODY = {"dataset_id": "shapes", "enable_rfdetr": False, "enable_sam3_text": False, "enable_sam3_similarity": False,
        "detector_conf": 0.001}  # fmt: skip
KILLED_AFTER = 5  # images finished (and cached) when the server is killed


def _output(http: httpx.Client, dataset_id: str) -> tuple[dict[str, str], list[Any]]:
    entry = next(d for d in http.get("/datasets").json() if d["id"] == dataset_id)
    root = Path(entry["dataset_root"])
    labels = {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.glob("*/labels/*.txt"))}
    return labels, [json.loads(line) for line in (root / "prepass_proposals.jsonl").read_text().splitlines()]


def test_killed_dataset_prepass_resumes_from_its_cache(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    data_dir, started = killed_during_prepass(
        tmp_path, tiny_zoo["yolo"], "/prepass/jobs", BODY, status=202, killed_after=KILLED_AFTER
    )
    job_id, key = started["job_id"], started["config_key"]
    cache = data_dir / "uploads" / "prepass_cache" / key
    assert len(list(cache.glob("*/*.json"))) == KILLED_AFTER
    assert not list(cache.glob("*/*.tmp")) and not list(cache.glob("*/.*"))

    with restarted(data_dir) as (http, _):
        resumed = wait_terminal(http, f"/prepass/jobs/{job_id}")  # nobody submits it again: the server resumes it
        assert resumed["status"] == "succeeded", resumed
        assert http.get(f"/jobs/{job_id}").json()["resumes"] == 1
        assert (resumed["result"]["cached"], resumed["result"]["computed"]) == (KILLED_AFTER, 9 - KILLED_AFTER)
        fresh_id = http.post("/prepass/jobs", json={**BODY, "use_cache": False}).json()["job_id"]
        fresh = wait_terminal(http, f"/prepass/jobs/{fresh_id}")
        assert fresh["status"] == "succeeded" and fresh["result"]["computed"] == 9
        resumed_output = _output(http, resumed["result"]["proposals_dataset_id"])
        assert resumed_output == _output(http, fresh["result"]["proposals_dataset_id"])
        assert sum(len(line["detections"]) for line in resumed_output[1]) > 0

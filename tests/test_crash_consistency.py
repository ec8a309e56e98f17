"""Issue 17, findings 1, 2, 3, 5 and 6: a real server is SIGKILLed at the moment each finding names (a
test-only pause point), restarted on the same data directory, and the state after restart is checked:
the documented outcome, listings that agree with the disk, and no staging folder, `.incoming-*` or
`*.tmp` file from before the restart."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import httpx

from tator.zoo.synthetic import make_detection_dataset
from tests.datasets.zips import yolo_zip
from tests.support.crash import (
    dataset_folders,
    in_background,
    kill_when_paused,
    leftovers,
    listed_ids,
    restarted,
    start,
    upload,
)


def _check_restarted_state(http: httpx.Client, uploads: Path, started: float) -> list[str]:
    ids = listed_ids(http)
    assert sorted(ids) == sorted(dataset_folders(uploads)), "GET /datasets disagrees with the disk"
    assert leftovers(uploads, older_than=started) == []
    return ids


def test_kill_before_the_claim_blocks_no_id(tmp_path: Path) -> None:
    """Finding 1: killed with the dataset built but not yet renamed into place, nothing is claimed; an
    empty claim folder left by an older version is removed at start-up; both ids are free again."""
    data_dir = tmp_path / "data"
    archive, ds = yolo_zip(tmp_path)
    server = start(data_dir, pause_at="dataset.install.before_rename")
    in_background(lambda: upload(httpx.Client(base_url=server.base_url, timeout=60), archive, dataset_id="shapes"))
    kill_when_paused(server, data_dir)
    uploads = data_dir / "uploads"
    assert list((uploads / "dataset_uploads").glob("staging-*")), "the kill should leave a staging folder"
    (uploads / "datasets" / "legacy").mkdir()  # the empty claim of a crashed older version

    with restarted(data_dir) as (http, started):
        assert _check_restarted_state(http, uploads, started) == []
        assert not (uploads / "datasets" / "legacy").exists()
        assert upload(http, archive, dataset_id="shapes").json()["id"] == "shapes"  # not shapes_1
        assert upload(http, archive, dataset_id="legacy").json()["id"] == "legacy"
        checked = http.get("/datasets/shapes/check").json()
        assert checked["ok"] is True and checked["detail"]["images"] == len(ds.images), checked
        assert sorted(_check_restarted_state(http, uploads, started)) == ["legacy", "shapes"]


def test_kill_mid_upload_leaves_no_staging_temp_or_incoming(tmp_path: Path) -> None:
    """Finding 2: a kill while a zip is half processed leaves its received zip and extracted tree; start-up
    removes them, `.incoming-*` classifier uploads, finished sessions and `*.tmp` files, and keeps a live
    session of each kind."""
    data_dir = tmp_path / "data"
    archive, _ = yolo_zip(tmp_path)
    server = start(data_dir)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert upload(http, archive, dataset_id="kept").status_code == 200
        live_bytes = http.post("/datasets/upload_session/init", json={"total_bytes": 10}).json()["session_id"]
        body = {"dataset_id": "later", "classes": ["a"], "total_images": 1}
        live_images = http.post("/datasets/upload_session/start", json=body).json()["session_id"]
    server.stop()
    server = start(data_dir, pause_at="dataset.ingest.extracted")
    in_background(lambda: upload(httpx.Client(base_url=server.base_url, timeout=60), archive, dataset_id="cut"))
    kill_when_paused(server, data_dir)
    uploads = data_dir / "uploads"
    planted = [
        uploads / "classifiers" / f".incoming-{uuid.uuid4().hex}",
        uploads / "datasets" / "kept" / "text_labels" / ".train_0000.txt.a1b2c3d4.tmp",
        uploads / "jobs" / "j1" / ".metrics.json.x9y8z7w6.tmp",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    assert leftovers(uploads, older_than=time.time() + 1), "the kill should leave staging behind"

    with restarted(data_dir) as (http, started):
        assert _check_restarted_state(http, uploads, started) == ["kept"]
        assert not any(path.exists() for path in planted)
        sessions = {s["session_id"] for s in http.get("/datasets/upload_sessions").json()["items"]}
        assert sessions == {live_bytes, live_images}  # the sweep took no live session of either kind
        assert upload(http, archive, dataset_id="cut").json()["id"] == "cut"


def test_kill_while_best_pt_is_written_leaves_no_usable_cut_weights(tmp_path: Path, tiny_zoo_dir: Path) -> None:
    """Finding 3: killed while `best.pt` is copied into the run, the run has no weights (the copy goes to a
    temp file renamed into place), so it cannot be activated or downloaded, and the temp file is gone."""
    data_dir = tmp_path / "data"
    (data_dir / "uploads").mkdir(parents=True)
    os.symlink(tiny_zoo_dir, data_dir / "uploads" / "zoo")
    env = {"TATOR_MODEL_ZOO": "tiny"}
    archive, _ = yolo_zip(tmp_path)
    server = start(data_dir, pause_at="yolo.keep_outputs.best_pt", env=env)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert upload(http, archive, dataset_id="shapes").status_code == 200
        job = http.post(
            "/yolo/train/jobs",
            json={
                "dataset_id": "shapes",
                "accept_tos": True,
                "from_scratch": True,
                "epochs": 1,
                "img_size": 32,
                "batch": 4,
            },  # fmt: skip
        ).json()
    kill_when_paused(server, data_dir)
    run_dir = data_dir / "uploads" / "yolo_runs" / job["job_id"]
    assert list(run_dir.glob(".best.pt.*.tmp")) and not (run_dir / "best.pt").exists()

    with restarted(data_dir, env=env) as (http, started):
        _check_restarted_state(http, data_dir / "uploads", started)
        run = next(r for r in http.get("/yolo/runs").json() if r["run_id"] == job["job_id"])
        assert run["status"] == "interrupted" and run["artifacts"]["best.pt"] is False
        assert http.get(f"/yolo/train/jobs/{job['job_id']}").json()["status"] == "interrupted"
        refused = http.post("/yolo/active", json={"run_id": job["job_id"]})
        assert (refused.status_code, refused.json()["detail"]) == (412, "yolo_best_missing")
        assert http.get(f"/yolo/runs/{job['job_id']}/download").status_code == 412
        assert http.get("/yolo/active").json() == {}


def _image_session(http: httpx.Client, tmp_path: Path) -> str:
    ds = make_detection_dataset(tmp_path / "src", classes=("a", "b"), n_train=2, n_val=1, image_size=48)
    body = {"dataset_id": "pieces", "classes": ["a", "b"], "total_images": len(ds.images)}
    sid = str(http.post("/datasets/upload_session/start", json=body).json()["session_id"])
    rows = [{"filename": i.path.name, "split": i.split, "label_text": i.label_path.read_text()} for i in ds.images]
    files = [("files", (i.path.name, i.path.read_bytes(), "image/png")) for i in ds.images]
    sent = http.post(f"/datasets/upload_session/{sid}/batch", data={"manifest": json.dumps({"rows": rows})},
                     files=files)  # fmt: skip
    assert sent.status_code == 200, sent.text
    return sid


def test_finalize_killed_after_the_dataset_moved_is_idempotent(tmp_path: Path) -> None:
    """Finding 5 (and finding 1 for sessions): killed after the session's dataset was installed, the
    dataset is listed once, the finished session is swept, and finalizing again answers with it (no 500)."""
    data_dir = tmp_path / "data"
    server = start(data_dir, pause_at="dataset.install.after_rename")
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        sid = _image_session(http, tmp_path)
    in_background(lambda: httpx.post(f"{server.base_url}/datasets/upload_session/{sid}/finalize", timeout=60))
    kill_when_paused(server, data_dir)

    with restarted(data_dir) as (http, started):
        assert _check_restarted_state(http, data_dir / "uploads", started) == ["pieces"]
        assert http.get("/datasets/upload_sessions").json()["items"] == []
        for _ in range(2):
            again = http.post(f"/datasets/upload_session/{sid}/finalize")
            assert (again.status_code, again.json()["id"], again.json()["image_count"]) == (200, "pieces", 3)
        assert listed_ids(http) == ["pieces"]


def test_upload_killed_before_its_answer_is_returned_on_retry(tmp_path: Path) -> None:
    """Finding 6: killed after the dataset is stored but before the answer, a retry with the same
    Idempotency-Key gets the original dataset (not 409, not `_1`)."""
    data_dir = tmp_path / "data"
    archive, _ = yolo_zip(tmp_path)
    key = {"Idempotency-Key": "upload-7f3a"}
    server = start(data_dir, pause_at="dataset.install.after_rename")
    in_background(lambda: upload(httpx.Client(base_url=server.base_url, timeout=60), archive, key))
    kill_when_paused(server, data_dir)

    with restarted(data_dir) as (http, started):
        assert _check_restarted_state(http, data_dir / "uploads", started) == ["shapes"]
        first = upload(http, archive, key).json()
        second = upload(http, archive, key).json()
        assert first["id"] == second["id"] == "shapes" and first["signature"] == second["signature"]
        assert listed_ids(http) == ["shapes"]
        bad = upload(http, archive, {"Idempotency-Key": "no spaces/allowed"})
        assert (bad.status_code, bad.json()["detail"]) == (400, "idempotency_key_invalid")
        assert upload(http, archive).json()["id"] == "shapes_1"  # without a key, an upload is a new one

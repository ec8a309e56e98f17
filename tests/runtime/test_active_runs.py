from __future__ import annotations

import json
from pathlib import Path

from tator.runtime.active_runs import ActiveRuns
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.storage.db import Database, SelectionStore
from tator.storage.runs import RunStore
from tator.yolo.service import YOLO_RUNS


def make_runs(tmp_path: Path, busy: set[str]) -> ActiveRuns:
    store = RunStore(tmp_path / "runs", YOLO_RUNS.errors.not_found)
    selections = ModelSelections(SelectionStore(Database(tmp_path / "db")))
    registry = ModelRegistry({}, device=lambda: "cpu")
    return ActiveRuns(YOLO_RUNS, store, selections, registry, is_busy=lambda run_id: run_id in busy)


def write_run(tmp_path: Path, run_id: str, status: str, *, weights: bool = False) -> None:
    run = tmp_path / "runs" / run_id
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": status, "created_at": 1.0}))
    if weights:
        (run / "best.pt").write_bytes(b"x")


def test_runs_left_running_by_a_stopped_server_are_listed_interrupted(tmp_path: Path) -> None:
    write_run(tmp_path, "live", "running")
    write_run(tmp_path, "orphan", "running")
    write_run(tmp_path, "legacy", "unknown", weights=True)
    write_run(tmp_path, "done", "succeeded", weights=True)
    statuses = {r["run_id"]: r["status"] for r in make_runs(tmp_path, busy={"live"}).list_runs()}
    assert statuses == {"live": "running", "orphan": "interrupted", "legacy": "succeeded", "done": "succeeded"}

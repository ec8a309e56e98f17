from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tator.errors import TatorError
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


def test_the_active_run_check_is_kept_until_its_files_change(tmp_path: Path) -> None:
    """Every predict asks whether the active run's weights are still complete; the answer is cached on the
    files' identity, so cutting, replacing or deleting them is seen on the very next ask."""
    write_run(tmp_path, "r1", "succeeded", weights=True)
    runs = make_runs(tmp_path, busy=set())
    store = runs.store
    record = store.read("r1") | {"weights": store.weights_manifest("r1", ("best.pt",))}
    store.write("r1", record)
    runs.activate("r1")
    calls = []
    original = store.weights_complete

    def counted(*args: object, **kwargs: object) -> bool:
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    store.weights_complete = counted  # type: ignore[method-assign]
    assert runs.active_spec()[1]["run_id"] == "r1"
    assert runs.active_spec()[1]["run_id"] == "r1"
    assert len(calls) == 1  # the second ask reused the verdict

    weights = tmp_path / "runs" / "r1" / "best.pt"
    weights.write_bytes(b"xy")  # cut or altered: another size than run.json recorded
    with pytest.raises(TatorError) as refused:
        runs.active_spec()
    assert refused.value.code == "yolo_active_missing_weights"
    weights.write_bytes(b"x")
    os.utime(weights, ns=(1, 1))  # back to the recorded size, under a new identity
    assert runs.active_spec()[1]["run_id"] == "r1"
    weights.unlink()
    with pytest.raises(TatorError):
        runs.active_spec()
    assert len(calls) == 4

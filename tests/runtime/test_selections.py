from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tator.runtime.loaders import ModelSpec
from tator.runtime.selections import ModelSelections
from tator.storage.db import Database, SelectionStore


def test_selection_round_trips_and_survives_reopen(tmp_path: Path) -> None:
    spec = ModelSpec("yolo", "/runs/r1/best.pt", (("imgsz", "640"),))
    ModelSelections(SelectionStore(Database(tmp_path / "db"))).select("yolo", spec, run_id="r1")
    reopened = ModelSelections(SelectionStore(Database(tmp_path / "db")))
    selection = reopened.get("yolo")
    assert selection is not None
    assert selection.spec == spec and selection.spec.key == spec.key
    assert selection.meta == {"run_id": "r1"}
    reopened.clear("yolo")
    assert reopened.get("yolo") is None and reopened.all() == {}


def test_unload_keeps_selection_and_models_route_shows_both(client: TestClient) -> None:
    state = client.app.state.tator  # type: ignore[attr-defined]
    state.selections.select("detector", ModelSpec("fake", "a"), run_id="r9")
    state.registry.get(ModelSpec("fake", "a"))
    client.post("/runtime/unload")
    body = client.get("/models").json()
    assert body["total"] == 0
    assert body["selected"]["detector"] == {"family": "fake", "source": "a", "key": "fake:a", "run_id": "r9"}

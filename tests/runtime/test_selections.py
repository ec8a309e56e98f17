from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tator.errors import DetectorModeInvalid
from tator.runtime.loaders import ModelSpec
from tator.runtime.selections import ModelSelections, default_detector, set_default_detector
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


def test_detector_default_is_a_persisted_preference_not_a_model(tmp_path: Path) -> None:
    selections = ModelSelections(SelectionStore(Database(tmp_path / "db")))
    assert default_detector(selections) == "rfdetr"
    assert set_default_detector(selections, " YOLO ") == "yolo"
    with pytest.raises(DetectorModeInvalid):
        set_default_detector(selections, "sam")
    reopened = ModelSelections(SelectionStore(Database(tmp_path / "db")))
    assert default_detector(reopened) == "yolo"
    assert reopened.all() == {}  # a preference is not a model selection
    assert not list(tmp_path.rglob("*.json"))

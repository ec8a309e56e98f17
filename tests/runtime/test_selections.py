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


class CountingStore(SelectionStore):
    """A store that counts its reads and can run a write in the middle of one."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.reads = 0
        self.during_read: list[object] = []

    def get(self, slot: str) -> dict[str, object] | None:
        self.reads += 1
        found = super().get(slot)
        while self.during_read:
            write = self.during_read.pop()
            assert callable(write)
            write()
        return found


def test_reads_are_kept_until_the_next_write(tmp_path: Path) -> None:
    store = CountingStore(Database(tmp_path / "db"))
    selections = ModelSelections(store)
    selections.select("yolo", ModelSpec("yolo", "a.pt"), run_id="a")
    first = selections.get("yolo")
    assert first is not None and selections.get("yolo") is first and selections.get("sam3") is None
    assert selections.get("sam3") is None and store.reads == 2  # one read per slot, absent ones too
    with pytest.raises(TypeError):
        first.meta["run_id"] = "b"  # type: ignore[index]  # shared with every reader: read-only
    selections.select("yolo", ModelSpec("yolo", "b.pt"), run_id="b")
    second = selections.get("yolo")
    assert second is not None and second.spec.source == "b.pt" and store.reads == 3
    selections.prefer("detector_default", "yolo")  # any write starts over
    assert selections.get("yolo") == second and store.reads == 4
    selections.clear("yolo")
    assert selections.get("yolo") is None and store.reads == 5


def test_a_read_racing_a_write_is_not_kept(tmp_path: Path) -> None:
    """A read that began before a write may answer with what it found, but the next read asks the store."""
    store = CountingStore(Database(tmp_path / "db"))
    selections = ModelSelections(store)
    selections.select("yolo", ModelSpec("yolo", "a.pt"))
    store.during_read.append(lambda: selections.select("yolo", ModelSpec("yolo", "b.pt")))
    raced = selections.get("yolo")
    assert raced is not None and raced.spec.source == "a.pt"
    current = selections.get("yolo")
    assert current is not None and current.spec.source == "b.pt"
    assert selections.get("yolo") is current and store.reads == 2


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

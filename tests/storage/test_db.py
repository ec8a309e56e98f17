from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tator.storage import db as db_module
from tator.storage.db import Database, SelectionStore


def test_schema_version_and_wal(tmp_path: Path) -> None:
    database = Database(tmp_path / "t.sqlite3")
    assert database.schema_version == len(db_module.MIGRATIONS)
    mode = database.query("PRAGMA journal_mode")[0][0]
    assert mode == "wal"
    database.close()
    # reopening does not re-run migrations
    again = Database(tmp_path / "t.sqlite3")
    assert again.schema_version == len(db_module.MIGRATIONS)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(db_module.MIGRATIONS) + 5}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Database(path)


def test_transaction_rolls_back(tmp_path: Path) -> None:
    database = Database(tmp_path / "t.sqlite3")
    with pytest.raises(ValueError):
        with database.transaction() as conn:
            conn.execute("INSERT INTO selections(slot, value, updated_at) VALUES ('a', '{}', 0)")
            raise ValueError("boom")
    assert database.query("SELECT * FROM selections") == []


def test_selections_persist(tmp_path: Path) -> None:
    database = Database(tmp_path / "t.sqlite3")
    store = SelectionStore(database)
    store.set("yolo", {"run_id": "r1"}, now=1.0)
    store.set("yolo", {"run_id": "r2"}, now=2.0)
    database.close()
    store = SelectionStore(Database(tmp_path / "t.sqlite3"))
    assert store.get("yolo") == {"run_id": "r2"}
    store.clear("yolo")
    assert store.get("yolo") is None

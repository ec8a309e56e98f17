"""The embedded metadata store: one SQLite file in WAL mode, versioned schema, thread-safe access."""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# Each entry upgrades the schema by one version. Append only; never edit a released step.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX jobs_kind_created ON jobs(kind, created_at);
    CREATE TABLE selections (
        slot TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
)


class Database:
    """A single connection guarded by a lock; SQLite serialises writers anyway and WAL keeps reads cheap."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    @property
    def schema_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        with self._lock:
            current = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            if current > len(MIGRATIONS):
                raise RuntimeError(f"database schema {current} is newer than this server ({len(MIGRATIONS)})")
            for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
                with self.transaction() as conn:
                    for statement in filter(str.strip, script.split(";")):
                        conn.execute(statement)
                    conn.execute(f"PRAGMA user_version = {version}")
                log.info("db.migrated version=%d path=%s", version, self.path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run statements atomically: all of them or none."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        with self._lock:
            self._conn.execute(sql, params)

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class SelectionStore:
    """Persisted 'selected model' pointers (slot -> JSON value), e.g. the active YOLO run."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, slot: str) -> dict[str, Any] | None:
        rows = self._db.query("SELECT value FROM selections WHERE slot = ?", (slot,))
        return json.loads(rows[0]["value"]) if rows else None

    def set(self, slot: str, value: dict[str, Any], *, now: float) -> None:
        self._db.execute(
            "INSERT INTO selections(slot, value, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT(slot) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (slot, json.dumps(value), now),
        )

    def clear(self, slot: str) -> None:
        self._db.execute("DELETE FROM selections WHERE slot = ?", (slot,))

    def all(self) -> dict[str, dict[str, Any]]:
        return {row["slot"]: json.loads(row["value"]) for row in self._db.query("SELECT slot, value FROM selections")}

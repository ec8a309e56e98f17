"""Job records in SQLite: written through on every state change, so a restart loses nothing."""

from __future__ import annotations

import builtins

from tator.jobs.types import JobRecord, JobStatus
from tator.storage.db import Database


class JobStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def save(self, record: JobRecord) -> None:
        self._db.execute(
            "INSERT INTO jobs(id, kind, status, created_at, updated_at, record) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at, "
            "record = excluded.record",
            (
                record.job_id,
                record.kind,
                record.status.value,
                record.created_at,
                record.updated_at,
                record.model_dump_json(),
            ),
        )

    def delete(self, job_id: str) -> None:
        self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._db.query("SELECT record FROM jobs WHERE id = ?", (job_id,))
        return JobRecord.model_validate_json(rows[0]["record"]) if rows else None

    def list(self, *, kinds: tuple[str, ...] = (), limit: int = 1000) -> builtins.list[JobRecord]:
        """Newest first; `kinds` filters by exact kind when given."""
        if kinds:
            marks = ",".join("?" for _ in kinds)
            rows = self._db.query(
                f"SELECT record FROM jobs WHERE kind IN ({marks}) ORDER BY created_at DESC LIMIT ?", (*kinds, limit)
            )
        else:
            rows = self._db.query("SELECT record FROM jobs ORDER BY created_at DESC LIMIT ?", (limit,))
        return [JobRecord.model_validate_json(row["record"]) for row in rows]

    def unfinished(self) -> builtins.list[JobRecord]:
        statuses = (JobStatus.QUEUED.value, JobStatus.RUNNING.value, JobStatus.CANCELLING.value)
        rows = self._db.query("SELECT record FROM jobs WHERE status IN (?, ?, ?)", statuses)
        return [JobRecord.model_validate_json(row["record"]) for row in rows]

    def count_by_status(self) -> dict[str, int]:
        rows = self._db.query("SELECT status, COUNT(*) AS n FROM jobs GROUP BY status")
        return {row["status"]: int(row["n"]) for row in rows}

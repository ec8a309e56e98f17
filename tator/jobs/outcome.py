"""What a job leaves in its run dir so that a restarted server can tell how far it got.

`job_result.json` is written (atomically) as soon as the job function returned: its output is complete.
`job_completed.json` is written when the server's completion step for it has run. At start-up a job
with both is recorded as succeeded; with only the first its completion step runs then; with neither it
was interrupted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from tator.storage.files import atomic_write_json

RESULT_NAME = "job_result.json"
COMPLETED_NAME = "job_completed.json"


def write_result(run_dir: Path, job_id: str, result: dict[str, Any] | None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / RESULT_NAME, {"job_id": job_id, "result": result})


def write_completed(run_dir: Path, job_id: str, extra: dict[str, Any] | None) -> None:
    atomic_write_json(run_dir / COMPLETED_NAME, {"job_id": job_id, "extra": extra})


def _read(path: Path, job_id: str, field: str) -> tuple[bool, dict[str, Any] | None]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, None
    if not isinstance(value, dict) or value.get("job_id") != job_id:
        return False, None
    payload = value.get(field)
    return True, payload if isinstance(payload, dict) else None


def read_result(run_dir: Path, job_id: str) -> tuple[bool, dict[str, Any] | None]:
    """(the job's output is complete, its result)."""
    return _read(run_dir / RESULT_NAME, job_id, "result")


def read_completed(run_dir: Path, job_id: str) -> tuple[bool, dict[str, Any] | None]:
    """(the completion step ran, the fields it added to the result)."""
    return _read(run_dir / COMPLETED_NAME, job_id, "extra")


def result_payload(result: Any) -> dict[str, Any] | None:
    """A job function's return value as the JSON object stored in its record."""
    if result is None:
        return None
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, dict):
        return result
    return {"value": result}

"""Training run directories: `<root>/<run_id>/run.json` plus artifacts, listed without side effects."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tator.errors import InvalidRunId, TatorError
from tator.storage.files import atomic_write_json, file_sha256
from tator.storage.paths import PathGuard, check_id

log = logging.getLogger(__name__)

RUN_RECORD = "run.json"


class RunStore:
    """One family's runs (e.g. uploads/yolo_runs). `not_found` is the family's 404 error class."""

    def __init__(self, root: Path, not_found: type[TatorError], *, exclude: Iterable[str] = ("datasets",)) -> None:
        self.root = root
        self.guard = PathGuard(root)
        self._not_found = not_found
        self._exclude = set(exclude)

    def path(self, run_id: str) -> Path:
        """The run's directory (it may not exist yet); rejects unsafe ids with 400 `invalid_run_id`."""
        return self.guard.child(check_id(run_id, what="run_id", error=InvalidRunId))

    def existing(self, run_id: str) -> Path:
        path = self.path(run_id)
        if not (path / RUN_RECORD).is_file():
            raise self._not_found(f"run {run_id} not found", run_id=run_id)
        return path

    def read(self, run_id: str) -> dict[str, Any]:
        return _read_json(self.existing(run_id) / RUN_RECORD) or {}

    def write(self, run_id: str, record: dict[str, Any]) -> None:
        path = self.path(run_id)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path / RUN_RECORD, record)

    def update(self, run_id: str, **changes: Any) -> dict[str, Any]:
        record = self.read(run_id)
        record.update(changes)
        self.write(run_id, record)
        return record

    def list(self) -> list[dict[str, Any]]:
        """Every run with a readable run.json, newest first. Never writes."""
        if not self.root.is_dir():
            return []
        records = []
        for path in self.root.iterdir():
            if path.name in self._exclude or path.name.startswith(".") or not path.is_dir() or path.is_symlink():
                continue
            record = _read_json(path / RUN_RECORD)
            if record is not None:
                records.append({**record, "run_id": path.name})
        return sorted(records, key=lambda r: float(r.get("created_at") or 0), reverse=True)

    def delete(self, run_id: str) -> None:
        """Rename the run aside (listings stop seeing it at once), then remove it."""
        doomed = self.root / f".deleting-{uuid.uuid4().hex}"
        os.rename(self.existing(run_id), doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def weights_manifest(self, run_id: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Size and SHA-256 of each weights file present, recorded in run.json when the run succeeds."""
        path = self.path(run_id)
        return {name: {"bytes": (path / name).stat().st_size, "sha256": file_sha256(path / name)}
                for name in names if (path / name).is_file()}  # fmt: skip

    def weights_complete(self, run_id: str, name: str, *, digest: bool, record: dict[str, Any] | None = None) -> bool:
        """True when the weights file exists and matches run.json's size (and, with `digest`, its SHA-256).
        A succeeded run recorded before manifests existed has nothing to compare: its file only has to exist."""
        file = self.path(run_id) / name
        if not file.is_file() or not self.guard.contains(file):
            return False
        record = self.read(run_id) if record is None else record
        manifest = record.get("weights")
        entry = manifest.get(name) if isinstance(manifest, dict) else None
        if not isinstance(entry, dict):  # no manifest: only a finished run (or one from before them) counts
            return record.get("status") in (None, "unknown", "succeeded")
        if file.stat().st_size != entry.get("bytes"):
            return False
        return not digest or file_sha256(file) == entry.get("sha256")

    def zip_to_tempfile(self, run_id: str, names: Iterable[str]) -> Path:
        """Zip the named files of a run (those present) into a temp file the caller streams and deletes."""
        path = self.existing(run_id)
        handle = tempfile.NamedTemporaryFile(prefix=f"{run_id}-", suffix=".zip", delete=False)  # noqa: SIM115
        handle.close()
        with zipfile.ZipFile(handle.name, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in names:
                member = path / name
                if member.is_file() and not member.is_symlink():
                    archive.write(member, arcname=name)
        return Path(handle.name)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None

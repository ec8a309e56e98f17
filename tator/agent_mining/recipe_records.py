"""A folder of JSON records, one sub-folder per id (`<prefix><8 hex>/<record file>` + its assets).

Used by the mining recipe store (`ar_*`, `recipe.json` + `clip_head/head.npz`) and the cascade store (`ac_*`,
`cascade.json`). Ids are checked against their pattern and never rewritten; a folder appears whole (written in
a hidden staging folder, then renamed) and disappears whole (renamed aside, then removed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tator.bundles.install import staging_path
from tator.errors import TatorError
from tator.storage.files import atomic_write_json

MAX_LISTED = 5000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


class RecordStore:
    """Records `<root>/<id>/<record_name>`; `not_found` (404) and `invalid` (400) are the family's errors."""

    def __init__(
        self, root: Path, *, prefix: str, record_name: str, not_found: type[TatorError], invalid: type[TatorError]
    ) -> None:
        self.root = root
        self.prefix = prefix
        self.record_name = record_name
        self._pattern = re.compile(rf"^{re.escape(prefix)}[0-9a-f]{{8}}$")
        self._not_found = not_found
        self._invalid = invalid

    def new_id(self) -> str:
        while True:
            candidate = f"{self.prefix}{uuid.uuid4().hex[:8]}"
            if not (self.root / candidate).exists():
                return candidate

    def valid_id(self, record_id: object) -> bool:
        return isinstance(record_id, str) and bool(self._pattern.fullmatch(record_id))

    def folder(self, record_id: str) -> Path:
        """The record's folder (it may not exist); 400 for an id off the pattern or a symlinked folder."""
        if not self.valid_id(record_id):
            raise self._invalid(f"ids here are {self.prefix!r} + 8 hex digits", id=str(record_id)[:64])
        path = self.root / record_id
        if path.is_symlink():
            raise self._invalid("record folders must not be symlinks", id=record_id)
        return path

    def existing(self, record_id: str) -> Path:
        folder = self.folder(record_id)
        if not (folder / self.record_name).is_file():
            raise self._not_found(f"{record_id!r} not found", id=record_id)
        return folder

    def get(self, record_id: str) -> dict[str, Any]:
        """The stored record; 404 if absent or unreadable."""
        try:
            record = json.loads((self.existing(record_id) / self.record_name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise self._not_found(f"{record_id!r} is unreadable", id=record_id) from exc
        if not isinstance(record, dict):
            raise self._not_found(f"{record_id!r} is unreadable", id=record_id)
        return {**record, "id": record_id}

    def list(self) -> list[dict[str, Any]]:
        """Every readable record, newest first."""
        records = []
        entries = sorted(self.root.iterdir())[:MAX_LISTED] if self.root.is_dir() else []
        for entry in entries:
            if not self.valid_id(entry.name) or entry.is_symlink():
                continue
            try:
                records.append(self.get(entry.name))
            except TatorError:
                continue
        records.sort(key=lambda r: str(r.get("updated_at") or r.get("created_at") or ""), reverse=True)
        return records

    def labels(self) -> set[str]:
        return {str(r.get("label") or "") for r in self.list()}

    def staging(self) -> Path:
        return staging_path(self.root)

    def install(self, staging: Path, record: dict[str, Any]) -> dict[str, Any]:
        """Write `record` into `staging`, then rename it to the record's folder; when a concurrent request
        took that id meanwhile, the record gets a fresh one. Returns the record as stored."""
        for _attempt in range(4):
            atomic_write_json(staging / self.record_name, record)
            target = self.folder(record["id"])
            try:
                staging.rename(target)
                return record
            except OSError:
                if not target.exists():
                    raise
            record = {**record, "id": self.new_id()}
        raise OSError(f"no free id found for {self.prefix} records")

    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store a record with no assets (through a staging folder, like an import)."""
        staging = self.staging()
        staging.mkdir()
        try:
            return self.install(staging, record)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def delete(self, record_id: str) -> None:
        doomed = self.root / f".deleting-{uuid.uuid4().hex}"
        os.rename(self.existing(record_id), doomed)
        shutil.rmtree(doomed, ignore_errors=True)

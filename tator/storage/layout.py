"""Names every storage root under the data directory, in one place."""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from tator.storage.paths import PathGuard

# Root name -> path relative to uploads/. The names are those of the reference's storage check.
UPLOAD_ROOTS: dict[str, str] = {
    "uploads": ".",
    "dataset_registry": "datasets",
    "dataset_uploads": "dataset_uploads",
    "sam3_datasets": "sam3_runs/datasets",
    "qwen_datasets": "qwen_runs/datasets",
    "sam3_runs": "sam3_runs",
    "qwen_runs": "qwen_runs",
    "yolo_runs": "yolo_runs",
    "rfdetr_runs": "rfdetr_runs",
    "calibration_jobs": "calibration_jobs",
    "calibration_cache": "calibration_cache",
    "prepass_recipes": "prepass_recipes",
    "clip_uploads": "clip_dataset_uploads",
    "classifiers": "classifiers",
    "labelmaps": "labelmaps",
    "glossaries": "glossaries",
    "jobs": "jobs",
    "zoo": "zoo",
    "crop_zips": "crop_zips",
    "agent_mining": "agent_mining",
}


@dataclass(frozen=True)
class RootStatus:
    name: str
    path: str
    ok: bool
    error: str | None


class Layout:
    """The data directory's layout: uploads/ (data, runs, models) and logs/."""

    def __init__(self, uploads_dir: Path, logs_dir: Path) -> None:
        self.uploads_dir = uploads_dir
        self.logs_dir = logs_dir
        self.guard = PathGuard(uploads_dir)

    def root(self, name: str) -> Path:
        """The directory of a named root (created on demand, never at import)."""
        path = (self.uploads_dir / UPLOAD_ROOTS[name]).resolve() if UPLOAD_ROOTS[name] != "." else self.guard.root
        path.mkdir(parents=True, exist_ok=True)
        return path

    def guard_for(self, name: str) -> PathGuard:
        return PathGuard(self.root(name))

    def check_roots(self) -> list[RootStatus]:
        """Probe every root: created, not a symlink, writable (a probe file written then deleted)."""
        results = [self._probe(name, self.uploads_dir / rel) for name, rel in UPLOAD_ROOTS.items()]
        results.append(self._probe("logs", self.logs_dir))
        return results

    def _probe(self, name: str, path: Path) -> RootStatus:
        base = self.uploads_dir.parent
        try:
            link = _first_symlink(path, stop=base)
            if link is not None:
                return RootStatus(name, str(path), False, "storage_root_symlink")
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"ok")
            probe.unlink()
            return RootStatus(name, str(path), True, None)
        except OSError as exc:
            return RootStatus(name, str(path), False, f"{type(exc).__name__}: {exc.strerror or exc}")


def _first_symlink(path: Path, *, stop: Path) -> Path | None:
    """The first symlinked component between `stop` (exclusive) and `path`, if any."""
    current = path
    while current != stop and current != current.parent:
        with contextlib.suppress(OSError):
            if os.path.islink(current):
                return current
        current = current.parent
    return None

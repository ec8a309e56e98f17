"""Installing a checked bundle: staging paths beside the store, one-rename installs, names that never collide."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

STALE_S = 24 * 3600
LEFTOVER_PREFIXES = (".staging-", ".export-", ".deleting-")


def prune_stale(root: Path) -> None:
    """Remove staging, export and delete leftovers older than a day directly under `root` (a killed server's)."""
    cutoff = time.time() - STALE_S
    for entry in root.iterdir():
        if not entry.name.startswith(LEFTOVER_PREFIXES) or entry.is_symlink():
            continue
        try:
            if entry.lstat().st_mtime < cutoff:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        except OSError:
            continue


def staging_path(root: Path) -> Path:
    """A fresh hidden path under `root` (same file system as the store, so installing is one rename)."""
    root.mkdir(parents=True, exist_ok=True)
    prune_stale(root)
    return root / f".staging-{uuid.uuid4().hex}"


def export_path(root: Path, stem: str) -> Path:
    """A hidden temp path for an export zip under `root`, removed by the caller once streamed."""
    root.mkdir(parents=True, exist_ok=True)
    prune_stale(root)
    return root / f".export-{uuid.uuid4().hex}-{stem}.zip"


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name (1)`, `name (2)` ... the first not in `taken`."""
    if name not in taken:
        return name
    index = 1
    while f"{name} ({index})" in taken:
        index += 1
    return f"{name} ({index})"


def unique_file(folder: Path, filename: str) -> Path:
    """`folder/filename`, or `stem_1.ext`, `stem_2.ext` ... the first that does not exist."""
    candidate = folder / filename
    stem, suffix = candidate.stem, candidate.suffix
    index = 1
    while candidate.exists() or candidate.is_symlink():
        candidate = folder / f"{stem}_{index}{suffix}"
        index += 1
    return candidate


def discard(path: Path) -> None:
    """Remove an export temp file (or a staging folder) once it is no longer needed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)

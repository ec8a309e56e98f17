"""Labelmap files (`.txt`, one class per line) under `uploads/labelmaps` (and beside heads in classifiers/)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tator.datasets.labels import normalise_label, read_labelmap
from tator.errors import (
    InvalidRelativePath,
    LabelmapExtensionNotAllowed,
    LabelmapInvalid,
    LabelmapNotFound,
    LabelmapPathNotAllowed,
    PathOutsideDataDir,
)
from tator.storage.paths import PathGuard

log = logging.getLogger(__name__)

LABELMAP_EXTENSION = ".txt"
MAX_LABELMAP_BYTES = 16 * 1024 * 1024
MAX_LISTED = 2000


def _read(path: Path) -> list[str] | None:
    try:
        if path.stat().st_size > MAX_LABELMAP_BYTES:
            return None
        return read_labelmap(path)
    except (OSError, LabelmapInvalid):
        return None


def _files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [p for p in root.rglob(f"*{LABELMAP_EXTENSION}") if p.is_file() and not p.is_symlink()]
    found = [p for p in found if not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)[:MAX_LISTED]


def list_labelmaps(root: Path, *, root_name: str = "labelmaps") -> list[dict[str, Any]]:
    """Labelmaps newest first: `{filename, path, rel_path, root, n_classes, modified_at}`; empty ones skipped."""
    entries: list[dict[str, Any]] = []
    for path in _files(root):
        names = _read(path)
        if not names:
            continue
        entries.append({
            "filename": path.name, "path": str(path), "rel_path": path.relative_to(root).as_posix(),
            "root": root_name, "n_classes": len(names), "classes": names, "modified_at": path.stat().st_mtime,
        })  # fmt: skip
    return entries


def read_all(root: Path) -> dict[str, list[str]]:
    """Absolute path -> class names of every readable labelmap (for matching heads to labelmaps)."""
    return {str(path): names for path in _files(root) if (names := _read(path))}


def labelmap_guess(stem: str, labelmap: Sequence[str], known: Mapping[str, list[str]]) -> str | None:
    """The labelmap that goes with a head: the one named like it, else one with the same classes."""
    wanted = [normalise_label(c) for c in labelmap]
    named = [p for p in known if Path(p).stem == stem]
    for path in named + list(known):
        if [normalise_label(c) for c in known[path]] == wanted:
            return path
    return named[0] if named else None


def resolve_labelmap(roots: Mapping[str, Path], value: str | None, *, root_hint: str | None = None) -> Path:
    """An existing `.txt` labelmap under one of `roots` (name -> folder), by relative or absolute path."""
    if not value or not value.strip():
        raise LabelmapNotFound("send the labelmap path")
    value = value.strip()
    if Path(value).suffix.lower() != LABELMAP_EXTENSION:
        raise LabelmapExtensionNotAllowed("labelmaps are .txt files", extension=Path(value).suffix[:16])
    order = [root_hint] if root_hint is not None and root_hint in roots else []
    order += [name for name in roots if name not in order]
    allowed = False
    for name in order:
        guard = PathGuard(roots[name])
        try:
            path = guard.ensure_inside(Path(value)) if Path(value).is_absolute() else guard.relative(value)
        except (InvalidRelativePath, PathOutsideDataDir):
            continue
        allowed = True
        if path.is_file():
            return path
    if not allowed:
        raise LabelmapPathNotAllowed("labelmap paths must lie in the labelmaps or classifiers folder")
    raise LabelmapNotFound(f"labelmap {value!r} not found", rel_path=value[:256])


def delete_labelmap(roots: Mapping[str, Path], value: str, *, root_hint: str | None = None) -> dict[str, Any]:
    path = resolve_labelmap(roots, value, root_hint=root_hint)
    root_name = next(n for n, r in roots.items() if PathGuard(r).contains(path))
    relative = path.relative_to(roots[root_name].resolve()).as_posix()
    path.unlink()
    log.info("labelmap.deleted root=%s rel_path=%s", root_name, relative)
    return {"status": "deleted", "rel_path": relative, "root": root_name}

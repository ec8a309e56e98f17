"""Where datasets live and how they are found: by id or signature, across the three managed roots.

Roots, in precedence order: the registry (`uploads/datasets`), SAM3 datasets and Qwen datasets. Reading
here never writes: listing only reads metadata and checks that paths exist.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tator.datasets.meta import read_meta
from tator.errors import DatasetNotFound
from tator.storage.layout import UPLOAD_ROOTS, Layout
from tator.storage.paths import PathGuard, check_id

log = logging.getLogger(__name__)

ROOTS: tuple[tuple[str, str], ...] = (
    ("registry", "dataset_registry"),
    ("sam3", "sam3_datasets"),
    ("qwen", "qwen_datasets"),
)


@dataclass(frozen=True)
class DatasetRef:
    """A dataset on disk: its id, folder, the managed root it sits in and its metadata."""

    id: str
    path: Path
    source: str  # registry | sam3 | qwen
    root: Path
    meta: dict[str, Any]
    meta_path: Path | None

    @property
    def guard(self) -> PathGuard:
        return PathGuard(self.path)

    @property
    def created_at(self) -> float:
        value = self.meta.get("created_at")
        if isinstance(value, int | float):
            return float(value / 1000 if value > 1e11 else value)  # legacy metadata stored milliseconds
        with contextlib.suppress(OSError):
            return self.path.stat().st_mtime
        return 0.0


def managed_roots(layout: Layout) -> list[tuple[str, Path]]:
    """(source, folder) of each root; folders are not created here, so reading never writes."""
    return [(source, (layout.uploads_dir / UPLOAD_ROOTS[name]).resolve()) for source, name in ROOTS]


def _ref(source: str, root: Path, path: Path) -> DatasetRef:
    meta, meta_path = read_meta(path)
    return DatasetRef(path.name, path, source, root, meta, meta_path)


def _usable(root: Path, path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not path.name.startswith(".") and PathGuard(root).contains(path)


def listed(root: Path, path: Path) -> bool:
    """A dataset folder: not hidden, not a symlink, inside its root and not empty (an empty folder is
    a claim left by a crash of an older version, removed at start-up)."""
    try:
        return _usable(root, path) and any(True for _ in path.iterdir())
    except OSError:
        return False  # moved away (deleted) while we looked


def iter_datasets(layout: Layout) -> list[DatasetRef]:
    """Every dataset folder of every root (hidden and symlinked folders skipped), registry first."""
    refs: list[DatasetRef] = []
    for source, root in managed_roots(layout):
        try:
            children = sorted(root.iterdir()) if root.is_dir() else []
        except OSError:
            log.warning("datasets.root_unreadable root=%s", root)
            continue
        found = (_ref(source, root, child) for child in children if listed(root, child))
        refs.extend(ref for ref in found if ref.path.is_dir())  # skip one moved away while it was read
    return refs


def find_dataset(layout: Layout, id_or_signature: str) -> DatasetRef:
    """The dataset named by id (registry first) or, failing that, by signature; else DatasetNotFound."""
    check_id(id_or_signature, what="dataset_id")
    for source, root in managed_roots(layout):
        path = root / id_or_signature
        if listed(root, path):
            return _ref(source, root, path)
    for ref in iter_datasets(layout):
        if ref.meta.get("signature") == id_or_signature:
            return ref
    raise DatasetNotFound(f"dataset {id_or_signature!r} not found", dataset_id=id_or_signature)


def id_taken(layout: Layout, candidate: str) -> bool:
    """True when any root holds something under `candidate` other than an empty folder."""
    return any(_occupied(root / candidate) for _, root in managed_roots(layout))


def _occupied(path: Path) -> bool:
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        return True
    try:
        return path.is_dir() and any(True for _ in path.iterdir())
    except OSError:
        return True

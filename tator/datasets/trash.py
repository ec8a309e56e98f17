"""The dataset trash: a delete moves the dataset to `<root>/.trash/<trash_id>/`, restore moves it back,
and entries older than the retention period are removed.

Each entry is the dataset folder plus a sidecar `<trash_id>.json`, written before the folder moves and
removed after it moves back, so a crash leaves at worst a sidecar without a folder (removed at start-up).
The `.trash` folder is hidden, so listings never see trashed datasets.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any

from tator.datasets.catalog import managed_roots
from tator.datasets.install import dataset_access, install_lock, numbered
from tator.datasets.meta import load_json_file, read_meta, write_meta
from tator.errors import DatasetDeleteForbidden, DatasetExists, DatasetTrashNotFound
from tator.storage.files import atomic_write_json, remove_tree
from tator.storage.layout import Layout
from tator.storage.paths import PathGuard, check_id
from tator.storage.pause import pause_point

log = logging.getLogger(__name__)

TRASH_DIR = ".trash"


def trash_dataset(layout: Layout, dataset_id: str, *, retention_s: float) -> dict[str, Any]:
    """Move a dataset to the trash (one rename, after any write in flight has finished)."""
    purge_expired(layout, retention_s=retention_s)
    with dataset_access(layout, dataset_id, exclusive=True) as ref:
        if ref.path.is_symlink() or not PathGuard(ref.root).contains(ref.path) or ref.path.parent != ref.root:
            raise DatasetDeleteForbidden(f"dataset {ref.id} is not inside a managed root", dataset_id=ref.id)
        trash = ref.root / TRASH_DIR
        trash.mkdir(exist_ok=True)
        trash_id = uuid.uuid4().hex
        record = {"trash_id": trash_id, "dataset_id": ref.id, "source": ref.source, "trashed_at": time.time(),
                  "label": ref.meta.get("label") or ref.id, "image_count": ref.meta.get("image_count", 0)}  # fmt: skip
        atomic_write_json(trash / f"{trash_id}.json", record)
        pause_point("dataset.trash.before_rename")
        os.rename(ref.path, trash / trash_id)
    log.info("dataset.trashed id=%s trash_id=%s source=%s", ref.id, trash_id, ref.source)
    return {"status": "deleted", "id": ref.id, "trash_id": trash_id}


def _entries(layout: Layout) -> list[tuple[Path, dict[str, Any]]]:
    found: list[tuple[Path, dict[str, Any]]] = []
    for _source, root in managed_roots(layout):
        trash = root / TRASH_DIR
        for sidecar in sorted(trash.glob("*.json")) if trash.is_dir() else []:
            record = load_json_file(sidecar)
            if record is not None and (trash / sidecar.stem).is_dir():
                found.append((root, {**record, "trash_id": sidecar.stem}))
    return found


def list_trash(layout: Layout, *, retention_s: float) -> list[dict[str, Any]]:
    """Trashed datasets, newest first, each with the time it will be removed."""
    purge_expired(layout, retention_s=retention_s)
    items = [{**record, "expires_at": float(record.get("trashed_at", 0)) + retention_s}
             for _root, record in _entries(layout)]  # fmt: skip
    return sorted(items, key=lambda r: float(r.get("trashed_at", 0)), reverse=True)


def restore_dataset(layout: Layout, trash_id: str, dataset_id: str | None = None) -> dict[str, Any]:
    """Move a trashed dataset back under its old id (or `dataset_id`); 409 when that id is taken now."""
    check_id(trash_id, what="trash_id")
    entry = next(((root, rec) for root, rec in _entries(layout) if rec["trash_id"] == trash_id), None)
    if entry is None:
        raise DatasetTrashNotFound(f"no trashed dataset {trash_id!r}", trash_id=trash_id)
    root, record = entry
    wanted = check_id(dataset_id, what="dataset_id") if dataset_id else str(record["dataset_id"])
    folder = root / TRASH_DIR / trash_id
    with install_lock(layout):
        target = next(numbered(wanted))
        if any((r / target).exists() for _s, r in managed_roots(layout)):
            raise DatasetExists(f"a dataset {target!r} exists; restore under another dataset_id", dataset_id=target)
        meta, meta_path = read_meta(folder)
        if meta_path is not None and meta.get("id") not in (None, target):
            write_meta(meta_path, {**meta, "id": target})
        os.rename(folder, root / target)
        (root / TRASH_DIR / f"{trash_id}.json").unlink(missing_ok=True)
    log.info("dataset.restored id=%s trash_id=%s", target, trash_id)
    return {"status": "restored", "id": target, "trash_id": trash_id}


def purge_expired(layout: Layout, *, retention_s: float, grace_s: float = 60.0) -> int:
    """Remove trash entries older than the retention period, and half-made ones (a sidecar without its
    folder or the reverse) older than `grace_s` (0 at start-up, when no delete is in flight)."""
    now, removed = time.time(), 0
    for _source, root in managed_roots(layout):
        trash = root / TRASH_DIR
        for child in list(trash.iterdir()) if trash.is_dir() else []:
            stem = child.name.removesuffix(".json")
            record = load_json_file(trash / f"{stem}.json")
            whole = record is not None and (trash / stem).is_dir()
            try:
                age = now - (float(record.get("trashed_at", 0)) if record else child.stat().st_mtime)
            except OSError:
                continue
            if age > (retention_s if whole else grace_s):
                # An expired entry goes whole, folder first: whichever of its two names the listing
                # reaches first, the other must not be left behind (it would look half-made and recent).
                for path in (trash / stem, trash / f"{stem}.json") if whole else (child,):
                    if path.exists():
                        remove_tree(path)
                removed += 1
    return removed

"""Putting a fully built dataset folder into a managed root, and keeping writers away from deleted ones.

An id is claimed by renaming the complete staging folder into place (one atomic step), never by creating
an empty folder first, so a crash leaves either no dataset or a whole one. Installs hold one lock per
data directory (short: a metadata scan and a rename), so an upload's idempotency key, or the session it
came from, maps to at most one dataset. Writes into a dataset hold its shared lock and deletes its
exclusive lock (both outside the dataset folder), so a write racing a delete either lands before the
dataset moves to the trash or answers 404; it never recreates the folder.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tator.datasets.catalog import DatasetRef, find_dataset, id_taken, iter_datasets, listed
from tator.datasets.meta import write_meta
from tator.errors import DatasetNotFound, DatasetUploadTargetInvalid
from tator.storage.layout import Layout
from tator.storage.locks import file_lock
from tator.storage.pause import pause_point

RESERVED_IDS = frozenset({"upload", "upload_session", "upload_sessions", "trash"})  # path words under /datasets/
LOCKS_DIR = ".locks"
UPLOAD_KEYS = ("idempotency_key", "session_id")  # where an upload records what a retry may name it by


def install_lock(layout: Layout) -> contextlib.AbstractContextManager[None]:
    return file_lock(layout.uploads_dir / LOCKS_DIR / "dataset-install.lock")


def find_upload(layout: Layout, key: str, value: str) -> DatasetRef | None:
    """The dataset an upload with this idempotency key (or from this session) created, if any."""
    for ref in iter_datasets(layout):
        upload = ref.meta.get("upload")
        if isinstance(upload, dict) and upload.get(key) == value:
            return ref
    return None


def install(
    layout: Layout, root: Path, data: Path, candidates: Iterator[str], meta_for: Callable[[str], dict[str, Any]],
    *, meta_name: str = "dataset.json", upload_key: tuple[str, str] | None = None,
) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """Rename the built folder `data` into `root` under the first free candidate id; `meta_for(id)` is
    written into it first. With `upload_key` (key, value), a dataset already made by that upload is
    returned instead. Returns (metadata, created)."""
    with install_lock(layout):
        if upload_key is not None:
            existing = find_upload(layout, *upload_key)
            if existing is not None:
                return existing.meta, False
        for candidate in candidates:
            if candidate in RESERVED_IDS or id_taken(layout, candidate):
                continue
            meta = meta_for(candidate)
            write_meta(data / meta_name, meta)
            pause_point("dataset.install.before_rename")
            try:
                os.rename(data, root / candidate)  # replaces nothing but an empty folder; else fails
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                    continue
                raise
            pause_point("dataset.install.after_rename")
            return meta, True
    raise DatasetUploadTargetInvalid("no free dataset id")


def numbered(base: str, *, first: int = 0, stem_chars: int = 120) -> Iterator[str]:
    """`base`, `base_1`, `base_2` ... (from `first`), at most 10,000 of them."""
    for counter in range(first, 10_000):
        yield base if counter == 0 else f"{base[:stem_chars]}_{counter}"


def _lock_path(layout: Layout, ref: DatasetRef) -> Path:
    return layout.uploads_dir / LOCKS_DIR / f"dataset-{ref.source}-{ref.id}.lock"


@contextlib.contextmanager
def dataset_access(layout: Layout, dataset_id: str, *, exclusive: bool = False) -> Iterator[DatasetRef]:
    """The dataset, held so it cannot move (shared: writers and readers; exclusive: delete). The folder
    is looked up again once the lock is held: a dataset deleted meanwhile answers 404."""
    ref = find_dataset(layout, dataset_id)
    with file_lock(_lock_path(layout, ref), shared=not exclusive):
        if not listed(ref.root, ref.path):
            raise DatasetNotFound(f"dataset {dataset_id!r} not found", dataset_id=dataset_id)
        yield ref

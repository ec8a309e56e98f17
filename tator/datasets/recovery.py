"""What start-up does to the dataset roots after a crash, before the first request: no upload, delete
or finalize is in flight then, so everything half-done can go.

- staging folders of uploads (`dataset_uploads/staging-*`) and of classifier training uploads;
- empty dataset folders (id claims of older versions, which claimed by creating the folder first);
- upload sessions that expired, never got a record, or already made their dataset (finalized);
- trash entries past the retention period or half-made.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tator.datasets.catalog import iter_datasets, managed_roots
from tator.datasets.sessions import sessions_root
from tator.datasets.trash import purge_expired
from tator.datasets.upload_sessions import sweep
from tator.storage.files import remove_tree
from tator.storage.layout import Layout

log = logging.getLogger(__name__)


def recover_datasets(layout: Layout, *, trash_retention_s: float) -> dict[str, int]:
    """Clean the dataset roots after a crash; returns what was removed, by kind."""
    made_by_session = set()
    for ref in iter_datasets(layout):
        upload = ref.meta.get("upload")
        if isinstance(upload, dict) and isinstance(upload.get("session_id"), str):
            made_by_session.add(upload["session_id"])
    counts = {
        "staging": _remove_children(layout.root("dataset_uploads"), "staging-*"),
        "classifier_training_uploads": _remove_children(layout.root("clip_uploads") / "staging", "*"),
        "empty_claims": sum(_remove_empty(root) for _source, root in managed_roots(layout)),
        "sessions": sweep(sessions_root(layout), grace_s=0, finished=made_by_session.__contains__),
        "crop_zip_sessions": sweep(layout.root("crop_zips"), grace_s=0),
        "trash": purge_expired(layout, retention_s=trash_retention_s, grace_s=0),
    }
    if any(counts.values()):
        log.info("startup.datasets_recovered %s", " ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def _remove_children(root: Path, pattern: str) -> int:
    found = list(root.glob(pattern))
    for path in found:
        remove_tree(path)
    return len(found)


def _remove_empty(root: Path) -> int:
    removed = 0
    for child in root.iterdir() if root.is_dir() else []:
        if child.is_dir() and not child.is_symlink() and not child.name.startswith("."):
            try:
                child.rmdir()  # only succeeds when empty
                removed += 1
            except OSError:
                continue
    return removed

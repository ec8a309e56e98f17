"""`/fs/upload_classifier`: heads are stored only in the safe `.npz` format, never overwritten.

A `.npz` upload is validated as a head; a legacy `.pkl` / `.joblib` is read with the restricted loader
(`tator.clip.legacy`) in a limited child process (`tator.clip.legacy_child`) and stored converted, or refused
with `classifier_format_unsafe`. The bytes land in a hidden temp file first (bounded by the byte limit and the
folder quota) and are removed on every path, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from tator.clip.head import HEAD_EXTENSION, load_head
from tator.clip.legacy_child import ChildLimits, convert_in_child
from tator.errors import (
    FilenameRequired,
    InvalidId,
    TatorError,
    UploadExists,
    UploadExtensionNotAllowed,
    UploadFilenameInvalid,
    UploadQuotaExceeded,
    UploadTooLarge,
)
from tator.storage.files import directory_bytes, save_stream
from tator.storage.paths import check_id

log = logging.getLogger(__name__)

CLASSIFIER_MAX_BYTES = 2 * 1024 * 1024 * 1024
LEGACY_EXTENSIONS = (".pkl", ".joblib")
ALLOWED_EXTENSIONS = (HEAD_EXTENSION, *LEGACY_EXTENSIONS)


def _target(filename: str | None) -> tuple[str, str]:
    base = filename or ""  # refused if it is not a safe name as sent, never cut down to its basename
    if not base.strip():
        raise FilenameRequired("the upload needs a file name")
    suffix = PurePosixPath(base).suffix.lower()
    if suffix not in ALLOWED_EXTENSIONS:
        raise UploadExtensionNotAllowed(
            f"classifier heads are {HEAD_EXTENSION} (or legacy {' / '.join(LEGACY_EXTENSIONS)}, converted on upload)",
            extension=suffix[:16],
        )
    try:
        check_id(base, what="filename")
    except InvalidId as exc:
        raise UploadFilenameInvalid("file name must be 1-128 letters, digits, '.', '_' or '-'") from exc
    return f"{PurePosixPath(base).stem}{HEAD_EXTENSION}", suffix


@dataclass(frozen=True)
class UploadBudget:
    """How many bytes one upload may have: the per-file limit, or what is left of the folder quota."""

    limit: int
    quota_bytes: int
    by_quota: bool

    def too_large(self, exc: UploadTooLarge) -> TatorError:
        if self.by_quota:
            return UploadQuotaExceeded(f"the classifiers folder is over its {self.quota_bytes} byte quota")
        return exc


def upload_budget(root: Path, *, max_bytes: int, quota_bytes: int) -> UploadBudget:
    remaining = max(quota_bytes - directory_bytes(root), 0)
    limit = min(max_bytes, CLASSIFIER_MAX_BYTES, remaining)
    return UploadBudget(limit, quota_bytes, limit == remaining)


def store_classifier(
    root: Path, filename: str | None, staged: Path, *, limits: ChildLimits = ChildLimits()
) -> dict[str, Any]:
    """Validate (or convert, in a limited child process) a received file and link it in as `<stem>.npz`;
    `staged` is left to the caller."""
    name, suffix = _target(filename)
    target = root / name
    if target.exists():
        raise UploadExists(f"{name} already exists", path=str(target))
    converted = root / f".converted-{uuid.uuid4().hex}{HEAD_EXTENSION}"
    try:
        if suffix == HEAD_EXTENSION:
            head, stored = load_head(staged), staged
        else:
            convert_in_child(staged, converted, limits)
            head, stored = load_head(converted), converted
        try:
            os.link(stored, target)  # fails if the name appeared meanwhile: no overwrite, ever
        except FileExistsError as exc:
            raise UploadExists(f"{name} already exists", path=str(target)) from exc
    finally:
        with contextlib.suppress(OSError):
            converted.unlink()
    log.info("classifier.uploaded file=%s from=%s classes=%d", name, suffix, len(head.classes))
    return {
        "path": str(target), "rel_path": name, "filename": name, "classes": list(head.classes),
        "embedding_dim": head.embedding_dim, "converted_from": suffix if suffix != HEAD_EXTENSION else None,
    }  # fmt: skip


def save_classifier(
    root: Path,
    filename: str | None,
    src: BinaryIO,
    *,
    max_bytes: int,
    quota_bytes: int,
    limits: ChildLimits = ChildLimits(),
) -> dict[str, Any]:
    """Copy a stream in (bounded) and store it as a head: the entry point for callers without HTTP."""
    _target(filename)
    budget = upload_budget(root, max_bytes=max_bytes, quota_bytes=quota_bytes)
    incoming = root / f".incoming-{uuid.uuid4().hex}"
    try:
        try:
            save_stream(src, incoming, max_bytes=budget.limit)
        except UploadTooLarge as exc:
            raise budget.too_large(exc) from exc
        return store_classifier(root, filename, incoming, limits=limits)
    finally:
        with contextlib.suppress(OSError):
            incoming.unlink()


STAGING_PREFIXES = (".incoming-", ".converted-")  # what a killed server may leave in the classifiers folder

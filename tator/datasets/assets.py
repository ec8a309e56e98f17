"""Labelmap file uploads (`/fs/upload_labelmap`): saved flat under `uploads/labelmaps`, never overwritten.

A `.pkl` labelmap is read with an unpickler that refuses every global (so it can only build lists,
tuples, dicts and strings, never run code) and is stored as the equivalent `.txt`.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from tator.datasets.labels import labelmap_text, parse_labelmap_text
from tator.errors import (
    FilenameRequired,
    InvalidId,
    LabelmapInvalid,
    UploadExists,
    UploadExtensionNotAllowed,
    UploadFilenameInvalid,
    UploadQuotaExceeded,
    UploadTooLarge,
)
from tator.storage.files import atomic_write_text, directory_bytes, save_stream
from tator.storage.paths import check_id

LABELMAP_MAX_BYTES = 16 * 1024 * 1024
LABELMAP_EXTENSIONS = (".txt", ".pkl")


class _NoGlobals(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"pickle refers to {module}.{name}; only plain lists of names are accepted")


def _names_from_pickle(data: bytes) -> list[str]:
    try:
        value = _NoGlobals(io.BytesIO(data)).load()
    except Exception as exc:  # any unpickling failure is a bad upload, whatever the exception type
        raise LabelmapInvalid(f"labelmap pickle is not a plain list of names: {exc}") from exc
    if isinstance(value, dict):
        value = [value[key] for key in sorted(value)] if all(isinstance(k, int) for k in value) else None
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise LabelmapInvalid("labelmap pickle must hold a list of class names")
    return parse_labelmap_text(labelmap_text([v.strip() for v in value]))


def _target_name(filename: str | None) -> tuple[str, str]:
    base = filename or ""  # refused if it is not a safe name as sent, never cut down to its basename
    if not base.strip():
        raise FilenameRequired("the upload needs a file name")
    suffix = PurePosixPath(base).suffix.lower()
    if suffix not in LABELMAP_EXTENSIONS:
        raise UploadExtensionNotAllowed(f"labelmaps must be {' or '.join(LABELMAP_EXTENSIONS)}", extension=suffix[:16])
    try:
        check_id(base, what="filename")
    except InvalidId as exc:
        raise UploadFilenameInvalid("file name must be 1-128 letters, digits, '.', '_' or '-'") from exc
    return f"{PurePosixPath(base).stem}.txt", suffix


def save_labelmap(
    root: Path, filename: str | None, src: BinaryIO, *, max_bytes: int, quota_bytes: int
) -> dict[str, Any]:
    """Validate and store an uploaded labelmap; returns `{path, classes}`."""
    name, suffix = _target_name(filename)
    target = root / name
    if target.exists():
        raise UploadExists(f"{name} already exists", path=str(target))
    remaining = quota_bytes - directory_bytes(root)
    limit = min(max_bytes, LABELMAP_MAX_BYTES, max(remaining, 0))
    incoming = root / f".incoming-{uuid.uuid4().hex}"
    try:
        try:
            save_stream(src, incoming, max_bytes=limit)
        except UploadTooLarge as exc:
            if limit == remaining:
                raise UploadQuotaExceeded(f"the labelmaps folder is over its {quota_bytes} byte quota") from exc
            raise
        data = incoming.read_bytes()
        if suffix == ".pkl":
            names = _names_from_pickle(data)
        else:
            try:
                names = parse_labelmap_text(data.decode("utf-8"), what=name)
            except UnicodeDecodeError as exc:
                raise LabelmapInvalid(f"{name} is not UTF-8 text") from exc
        if not names:
            raise LabelmapInvalid(f"{name} names no class")
        atomic_write_text(incoming, labelmap_text(names))
        try:
            os.link(incoming, target)  # fails if the name appeared meanwhile: no overwrite, ever
        except FileExistsError as exc:
            raise UploadExists(f"{name} already exists", path=str(target)) from exc
    finally:
        with contextlib.suppress(OSError):
            incoming.unlink()
    return {"path": str(target), "classes": len(names)}

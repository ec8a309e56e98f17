"""Resumable upload sessions for big dataset zips: init, chunks at byte offsets, status, finalize, abort.

Everything lives on disk under `uploads/dataset_uploads/sessions/<id>/` (`session.json` + `upload.part`),
so a session survives a restart; the part file's size is the offset to resume from. A per-session
file lock keeps two writers (or a writer and finalize) apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from tator.datasets import zipsafe
from tator.datasets.ingest import UploadOptions, check_options, ingest_archive
from tator.datasets.locks import file_lock
from tator.datasets.meta import load_json_file
from tator.errors import (
    DatasetUploadChecksumMismatch,
    DatasetUploadIncomplete,
    DatasetUploadOffsetMismatch,
    DatasetUploadSessionBusy,
    DatasetUploadSessionNotFound,
    UploadTooLarge,
)
from tator.storage.files import atomic_write_json, remove_tree
from tator.storage.layout import Layout
from tator.storage.paths import PathGuard

log = logging.getLogger(__name__)

SESSION_TTL_S = 7 * 24 * 3600
PART_NAME = "upload.part"


def sessions_root(layout: Layout) -> Path:
    root = layout.root("dataset_uploads") / "sessions"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _dir(root: Path, session_id: str) -> Path:
    path = PathGuard(root).child(session_id)
    if not (path / "session.json").is_file():
        raise DatasetUploadSessionNotFound(f"upload session {session_id!r} not found", session_id=session_id)
    return path


def _busy(session_id: str) -> DatasetUploadSessionBusy:
    return DatasetUploadSessionBusy(f"upload session {session_id} is in use by another request", session_id=session_id)


def _status(path: Path) -> dict[str, Any]:
    record = load_json_file(path / "session.json") or {}
    part = path / PART_NAME
    offset = part.stat().st_size if part.is_file() else 0
    total = int(record.get("total_bytes", 0))
    return {**record, "offset": offset, "complete": offset == total}


def sweep_expired(root: Path, *, ttl_s: float = SESSION_TTL_S) -> None:
    now = time.time()
    for child in [p for p in root.iterdir() if p.is_dir()]:
        record = load_json_file(child / "session.json")
        stamp = record.get("updated_at") if record else None
        if not isinstance(stamp, int | float) or now - stamp > ttl_s:
            with (
                contextlib.suppress(OSError, DatasetUploadSessionBusy),
                file_lock(child / ".lock", busy=_busy(child.name)),
            ):
                remove_tree(child)
                log.info("upload_session.expired id=%s", child.name)


def init_session(
    root: Path, options: UploadOptions, *, total_bytes: int, max_bytes: int, sha256: str | None
) -> dict[str, Any]:
    """Open a session for a zip of `total_bytes`; the dataset options are checked now, not at the end."""
    check_options(options)
    if total_bytes > max_bytes:
        raise UploadTooLarge(f"upload exceeds the limit of {max_bytes} bytes", limit_bytes=max_bytes)
    sweep_expired(root)
    session_id = uuid.uuid4().hex
    path = root / session_id
    path.mkdir()
    (path / PART_NAME).touch()
    now = time.time()
    record = {"session_id": session_id, "total_bytes": total_bytes, "sha256": sha256, "status": "open",
              "created_at": now, "updated_at": now, **asdict(options)}  # fmt: skip
    atomic_write_json(path / "session.json", record)
    log.info("upload_session.opened id=%s bytes=%d", session_id, total_bytes)
    return _status(path)


def session_status(root: Path, session_id: str) -> dict[str, Any]:
    return _status(_dir(root, session_id))


def list_sessions(root: Path) -> list[dict[str, Any]]:
    found = [_status(p) for p in sorted(root.iterdir()) if (p / "session.json").is_file()]
    return sorted(found, key=lambda s: s.get("created_at", 0), reverse=True)


class ChunkWriter:
    """Appends one chunk at `offset`, holding the session lock until `close()`."""

    def __init__(self, root: Path, session_id: str, offset: int) -> None:
        self._path = _dir(root, session_id)
        self._lock = file_lock(self._path / ".lock", busy=_busy(session_id))
        self._lock.__enter__()
        try:
            status = _status(self._path)
            if offset != status["offset"]:
                raise DatasetUploadOffsetMismatch(
                    f"chunk offset {offset} does not match the {status['offset']} bytes received",
                    expected_offset=status["offset"], session_id=session_id,
                )  # fmt: skip
            self._left = int(status["total_bytes"]) - offset
            self._out: BinaryIO = open(self._path / PART_NAME, "ab")  # noqa: SIM115 - closed in close()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise

    def write(self, data: bytes) -> None:
        if len(data) > self._left:
            raise UploadTooLarge("chunk runs past the session's total_bytes", limit_bytes=self._left)
        self._out.write(data)
        self._left -= len(data)

    def close(self) -> dict[str, Any]:
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            record = load_json_file(self._path / "session.json") or {}
            atomic_write_json(self._path / "session.json", {**record, "updated_at": time.time()})
            return _status(self._path)
        finally:
            self._lock.__exit__(None, None, None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def finalize_session(root: Path, session_id: str, *, layout: Layout, limits: zipsafe.ZipLimits) -> dict[str, Any]:
    """Ingest the complete zip as a dataset. An incomplete session stays open (409); otherwise the
    session is consumed whether the dataset is created or refused."""
    path = _dir(root, session_id)
    with file_lock(path / ".lock", busy=_busy(session_id)):
        status = _status(path)
        if not status["complete"]:
            raise DatasetUploadIncomplete(
                f"received {status['offset']} of {status['total_bytes']} bytes",
                offset=status["offset"], total_bytes=status["total_bytes"],
            )  # fmt: skip
        try:
            expected = status.get("sha256")
            if isinstance(expected, str) and expected and _sha256(path / PART_NAME) != expected.lower():
                raise DatasetUploadChecksumMismatch("the received bytes do not match sha256", session_id=session_id)
            fields = {k: status.get(k) for k in ("dataset_id", "label", "dataset_type", "context", "filename")}
            options = UploadOptions(**{k: v for k, v in fields.items() if v is not None})
            return ingest_archive(path / PART_NAME, layout=layout, options=options, limits=limits)
        finally:
            remove_tree(path)
            log.info("upload_session.closed id=%s", session_id)


def abort_session(root: Path, session_id: str) -> dict[str, Any]:
    path = _dir(root, session_id)
    with file_lock(path / ".lock", busy=_busy(session_id)):
        remove_tree(path)
    return {"status": "aborted", "session_id": session_id}

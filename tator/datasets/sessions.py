"""Resumable upload sessions for big dataset zips: init, chunks at byte offsets, status, finalize, abort.

Everything lives on disk under `uploads/dataset_uploads/sessions/<id>/` (the shared session record of
`upload_sessions` + `upload.part`), so a session survives a restart; the part file's size is the offset
to resume from. A per-session file lock keeps two writers (or a writer and finalize) apart.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, BinaryIO

from tator.datasets import image_sessions, zipsafe
from tator.datasets.ingest import UploadOptions, check_options, ingest_archive
from tator.datasets.install import find_upload
from tator.datasets.meta import load_json_file
from tator.datasets.upload_sessions import RECORD, SessionStore
from tator.errors import (
    DatasetUploadChecksumMismatch,
    DatasetUploadIncomplete,
    DatasetUploadOffsetMismatch,
    DatasetUploadSessionBusy,
    DatasetUploadSessionNotFound,
    UploadTooLarge,
)
from tator.storage.files import file_sha256, remove_tree
from tator.storage.layout import Layout
from tator.storage.locks import file_lock

log = logging.getLogger(__name__)

KIND = "bytes"
PART_NAME = "upload.part"


def sessions_root(layout: Layout) -> Path:
    root = layout.root("dataset_uploads") / "sessions"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _not_found(session_id: str) -> DatasetUploadSessionNotFound:
    return DatasetUploadSessionNotFound(f"upload session {session_id!r} not found", session_id=session_id)


def _busy(session_id: str) -> DatasetUploadSessionBusy:
    return DatasetUploadSessionBusy(f"upload session {session_id} is in use by another request", session_id=session_id)


def session_store(root: Path, kind: str = KIND) -> SessionStore:
    """The dataset upload sessions of one kind (raw-bytes or per-image share the root and the id space)."""
    return SessionStore(root, kind, not_found=_not_found, busy=_busy)


def _status(path: Path, record: dict[str, Any]) -> dict[str, Any]:
    part = path / PART_NAME
    offset = part.stat().st_size if part.is_file() else 0
    total = int(record.get("total_bytes", 0))
    return {**record, "offset": offset, "complete": offset == total}


def init_session(
    root: Path, options: UploadOptions, *, total_bytes: int, max_bytes: int, sha256: str | None
) -> dict[str, Any]:
    """Open a session for a zip of `total_bytes`; the dataset options are checked now, not at the end."""
    check_options(options)
    if total_bytes > max_bytes:
        raise UploadTooLarge(f"upload exceeds the limit of {max_bytes} bytes", limit_bytes=max_bytes)
    fields = {"total_bytes": total_bytes, "sha256": sha256, **asdict(options)}
    fields.pop("session_id")
    path, record = session_store(root).create(fields)
    (path / PART_NAME).touch()
    log.info("upload_session.opened id=%s bytes=%d", record["session_id"], total_bytes)
    return _status(path, record)


def session_status(root: Path, session_id: str) -> dict[str, Any]:
    """A session of either kind: its record, with the bytes received (`offset`) for a raw-bytes one."""
    images = session_store(root, image_sessions.KIND)
    return _status(*(images.load(session_id) if images.exists(session_id) else session_store(root).load(session_id)))


def list_sessions(root: Path) -> list[dict[str, Any]]:
    """Open sessions of both dataset kinds, newest first (a per-image session's file map as a count)."""
    found = [_status(path, record) for path, record in session_store(root).list()]
    for _path, record in session_store(root, "images").list():
        found.append({**{k: v for k, v in record.items() if k != "files"}, "received": len(record.get("files", {}))})
    return sorted(found, key=lambda s: s.get("created_at", 0), reverse=True)


class ChunkWriter:
    """Appends one chunk at `offset`, holding the session lock until `close()`."""

    def __init__(self, root: Path, session_id: str, offset: int) -> None:
        self._store = session_store(root)
        self._path, _ = self._store.load(session_id)
        self._lock = file_lock(self._path / ".lock", busy=_busy(session_id))
        self._lock.__enter__()
        try:
            status = _status(*self._store.load(session_id))
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
            record = load_json_file(self._path / RECORD) or {}
            return _status(self._path, self._store.save(self._path, record))
        finally:
            self._lock.__exit__(None, None, None)


def finalize_session(root: Path, session_id: str, *, layout: Layout, limits: zipsafe.ZipLimits) -> dict[str, Any]:
    """Ingest the complete zip as a dataset. An incomplete session stays open (409); otherwise the
    session is consumed whether the dataset is created or refused."""
    with session_store(root).locked(session_id) as (path, record):
        status = _status(path, record)
        if not status["complete"]:
            raise DatasetUploadIncomplete(
                f"received {status['offset']} of {status['total_bytes']} bytes",
                offset=status["offset"], total_bytes=status["total_bytes"],
            )  # fmt: skip
        try:
            expected = status.get("sha256")
            if isinstance(expected, str) and expected and file_sha256(path / PART_NAME) != expected.lower():
                raise DatasetUploadChecksumMismatch("the received bytes do not match sha256", session_id=session_id)
            fields = {k: status.get(k) for k in ("dataset_id", "label", "dataset_type", "context", "filename")}
            options = UploadOptions(**{k: v for k, v in fields.items() if v is not None}, session_id=session_id)
            return ingest_archive(path / PART_NAME, layout=layout, options=options, limits=limits)
        finally:
            remove_tree(path)
            log.info("upload_session.closed id=%s", session_id)


def finalize_any(root: Path, session_id: str, *, layout: Layout, limits: zipsafe.ZipLimits) -> dict[str, Any]:
    """Finalize a session of either kind. Idempotent: once a session made its dataset, finalizing it
    again (a retry after a lost answer, or after a crash) answers with that dataset's metadata."""
    made = find_upload(layout, "session_id", session_id)
    if made is not None:
        return made.meta
    if session_store(root, image_sessions.KIND).exists(session_id):
        return image_sessions.finalize_session(root, session_id, layout=layout)
    return finalize_session(root, session_id, layout=layout, limits=limits)


def abort_session(root: Path, session_id: str, *, kind: str = KIND) -> dict[str, Any]:
    with session_store(root, kind).locked(session_id) as (path, _record):
        remove_tree(path)
    log.info("upload_session.aborted id=%s kind=%s", session_id, kind)
    return {"status": "aborted", "session_id": session_id}

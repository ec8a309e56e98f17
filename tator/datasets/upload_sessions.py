"""One on-disk format, expiry and sweep for every kind of upload session.

The kinds: raw-bytes dataset zips (`bytes`), per-image dataset uploads (`images`) and crop-zip jobs
(`crop_zip`). Each session is a folder `<root>/<session_id>/` holding `session.json`
(`session_id, kind, status, created_at, updated_at, expires_at` + the kind's own fields), a `.lock`
and its payload. A session expires `ttl` seconds after its last update, by its own kind's TTL; a sweep
removes expired sessions (never one another request holds) and folders that never got a record, so it
can never take a live session of another kind with it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tator.datasets.meta import load_json_file
from tator.errors import InvalidId, InvalidRelativePath, TatorError
from tator.storage.files import atomic_write_json, remove_tree
from tator.storage.locks import file_lock
from tator.storage.paths import PathGuard

log = logging.getLogger(__name__)

RECORD = "session.json"
DAY_S = 24 * 3600.0
TTL_S: dict[str, float] = {"bytes": 7 * DAY_S, "images": 7 * DAY_S, "crop_zip": DAY_S}
UNRECORDED_GRACE_S = 3600.0  # a folder without a record is a session being created, for a moment


class SessionStore:
    """Sessions of one kind under `root` (kinds may share a root)."""

    def __init__(self, root: Path, kind: str, *, not_found: Callable[[str], TatorError],
                 busy: Callable[[str], TatorError], bad_id_not_found: bool = False) -> None:  # fmt: skip
        self.root = root
        self._bad_id_not_found = bad_id_not_found  # else an unsafe id answers 400 invalid_id
        self.kind = kind
        self._not_found = not_found
        self._busy = busy

    def create(self, fields: dict[str, Any], *, session_id: str | None = None) -> tuple[Path, dict[str, Any]]:
        """A new session folder with its record (payload folders are the caller's)."""
        sweep(self.root)
        session_id = session_id or uuid.uuid4().hex
        path = self.root / session_id
        path.mkdir(parents=True)
        now = time.time()
        record = {**fields, "session_id": session_id, "kind": self.kind, "status": "open", "created_at": now}
        return path, self.save(path, record, now=now)

    def save(self, path: Path, record: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
        now = time.time() if now is None else now
        record = {**record, "updated_at": now, "expires_at": now + TTL_S[self.kind]}
        atomic_write_json(path / RECORD, record)
        return record

    def load(self, session_id: str) -> tuple[Path, dict[str, Any]]:
        """The session's folder and record; another kind's session (or none) answers not found."""
        try:
            path = PathGuard(self.root).child(session_id)
        except (InvalidId, InvalidRelativePath):
            if not self._bad_id_not_found:
                raise
            raise self._not_found(session_id[:64]) from None
        record = load_json_file(path / RECORD)
        if record is None or kind_of(record) != self.kind:
            raise self._not_found(session_id[:64])
        return path, record

    def exists(self, session_id: str) -> bool:
        try:
            self.load(session_id)
        except TatorError:
            return False
        return True

    @contextlib.contextmanager
    def locked(self, session_id: str, *, wait: bool = False) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Hold the session's lock (busy answered at once unless `wait`); the record is read under it."""
        path, _ = self.load(session_id)
        with file_lock(path / ".lock", busy=None if wait else self._busy(session_id)):
            yield self.load(session_id)

    def list(self) -> list[tuple[Path, dict[str, Any]]]:
        found = []
        for path in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            record = load_json_file(path / RECORD)
            if record is not None and kind_of(record) == self.kind:
                found.append((path, record))
        return found


def kind_of(record: dict[str, Any]) -> str:
    return str(record.get("kind") or "bytes")  # raw-bytes sessions written before kinds had none


def expired(record: dict[str, Any], now: float) -> bool:
    stamp = record.get("updated_at")
    if not isinstance(stamp, int | float):
        return True
    return now - float(stamp) > TTL_S.get(kind_of(record), 7 * DAY_S)


def sweep(root: Path, *, grace_s: float = UNRECORDED_GRACE_S, finished: Callable[[str], bool] | None = None) -> int:
    """Remove expired sessions of any kind (each by its own TTL), finished ones (`finished(session_id)`)
    and folders without a record older than `grace_s`; a session whose lock is held is left alone."""
    now, removed = time.time(), 0
    for child in [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []:
        record = load_json_file(child / RECORD)
        if record is None:
            with contextlib.suppress(OSError):
                if now - child.stat().st_mtime > grace_s:
                    remove_tree(child)
                    removed += 1
            continue
        if not (expired(record, now) or (finished is not None and finished(child.name))):
            continue
        with contextlib.suppress(OSError, TatorError), file_lock(child / ".lock", busy=TatorError("busy")):
            remove_tree(child)
            removed += 1
            log.info("upload_session.swept id=%s kind=%s", child.name, kind_of(record))
    return removed

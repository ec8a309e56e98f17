"""Atomic and bounded file writes: a reader never sees half a file, a writer never exceeds its limit."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from tator.errors import UploadTooLarge
from tator.storage.pause import pause_point

CHUNK_BYTES = 1024 * 1024
LEFTOVER_FILES = re.compile(
    r"^\..+\.tmp$"  # temp files of atomic writes (text labels, job metrics, run.json, weights)
    r"|^\.incoming-[0-9a-f]{32}$"  # a received upload not yet stored
    r"|^\.converted-[0-9a-f]{32}\.npz$"  # a legacy head being converted
)


@contextlib.contextmanager
def _temp_beside(dest: Path) -> Iterator[Path]:
    """A temp file in dest's directory (same filesystem, so the final rename is atomic)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
    finally:
        temp.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def atomic_write_bytes(dest: Path, data: bytes) -> None:
    """Write `data` to `dest` through a temp file and a rename."""
    with _temp_beside(dest) as temp:
        with open(temp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, dest)


def atomic_write_text(dest: Path, text: str) -> None:
    """Write UTF-8 text atomically."""
    atomic_write_bytes(dest, text.encode("utf-8"))


def atomic_write_json(dest: Path, value: Any) -> None:
    """Write JSON (indented, UTF-8) atomically."""
    atomic_write_text(dest, json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


@dataclass(frozen=True)
class SavedFile:
    path: Path
    size: int
    sha256: str


def save_stream(src: BinaryIO, dest: Path, *, max_bytes: int) -> SavedFile:
    """Copy a stream to `dest` in chunks; over `max_bytes` raises UploadTooLarge and writes nothing."""
    digest = hashlib.sha256()
    size = 0
    with _temp_beside(dest) as temp:
        with open(temp, "wb") as handle:
            while chunk := src.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLarge(f"upload exceeds the limit of {max_bytes} bytes", limit_bytes=max_bytes)
                digest.update(chunk)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, dest)
    return SavedFile(path=dest, size=size, sha256=digest.hexdigest())


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_copy(src: Path, dest: Path, *, pause: str = "") -> SavedFile:
    """Copy `src` to `dest` through a temp file and a rename: `dest` is absent or complete, never cut.
    `pause` names a test pause point reached while the copy is half written."""
    with open(src, "rb") as handle:
        with _temp_beside(dest) as temp:
            saved = _copy_into(handle, temp, pause)
            os.replace(temp, dest)
    return SavedFile(path=dest, size=saved[0], sha256=saved[1])


def _copy_into(src: BinaryIO, temp: Path, pause: str) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    with open(temp, "wb") as out:
        while chunk := src.read(CHUNK_BYTES):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if pause:
                out.flush()
                pause_point(pause)
        out.flush()
        os.fsync(out.fileno())
    return size, digest.hexdigest()


def remove_tree(path: Path) -> None:
    """Delete a directory tree (or file) if present; never follows a symlink out of it."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def directory_bytes(path: Path) -> int:
    """Total size of regular files under `path`, not following symlinks; temp files and received uploads
    not yet stored (`LEFTOVER_FILES`) do not count against a quota."""
    total = 0
    for root, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            if LEFTOVER_FILES.match(name):
                continue
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def sweep_stale(root: Path, prefixes: tuple[str, ...]) -> int:
    """Delete the regular files directly under `root` whose names start with one of `prefixes` (staging files
    a killed process left behind; called at start-up, before any request). Returns how many went."""
    removed = 0
    if not root.is_dir():
        return 0
    for entry in os.scandir(root):
        if entry.name.startswith(prefixes) and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed

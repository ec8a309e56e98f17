"""The one path guard: every user-supplied id or relative path is resolved here, under a root.

Ids and relative paths are rejected, never rewritten: a request that names `../x` gets a 400, not a
silently different file.
"""

from __future__ import annotations

import re
import urllib.parse
from pathlib import Path, PurePosixPath

from tator.errors import InvalidId, InvalidRelativePath, PathOutsideDataDir, TatorError

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DRIVE_PATTERN = re.compile(r"^[A-Za-z]:")
_MAX_RELATIVE_LENGTH = 1024
MAX_NAME_BYTES = 255  # one path component, as every common file system allows
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux


def check_os_path(value: str) -> str:
    """`value` if the OS can take it as a path: no NUL, no component over 255 bytes, at most 4096 bytes in all
    (anything else makes the OS call raise, which would surface as a 500)."""
    if "\x00" in value:
        raise InvalidRelativePath("path must not contain NUL bytes")
    encoded = value.encode("utf-8", "surrogateescape")
    if len(encoded) > MAX_PATH_BYTES or any(len(part) > MAX_NAME_BYTES for part in encoded.split(b"/")):
        raise InvalidRelativePath(f"path names must be at most {MAX_NAME_BYTES} bytes each, {MAX_PATH_BYTES} in all")
    return value


def check_id(value: str, *, what: str = "id", error: type[TatorError] = InvalidId) -> str:
    """Return `value` if it is a safe single path component (letters, digits, `._-`), else raise `error`
    (the route's own code where the contract names one, e.g. `invalid_run_id`)."""
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value) or value.strip(".") == "":
        raise error(f"{what} must be 1-128 characters of letters, digits, '.', '_' or '-'", field=what)
    if ".." in value:
        raise error(f"{what} must not contain '..'", field=what)
    return value


def _fully_unquoted(value: str) -> str:
    # Percent-encoding can be stacked (%252e%252e); decode until stable so no layer hides a "..".
    for _ in range(4):
        decoded = urllib.parse.unquote(value)
        if decoded == value:
            break
        value = decoded
    return value


def check_relative(value: str) -> PurePosixPath:
    """Validate a client-supplied relative path (posix separators) and return it as parts."""
    if not isinstance(value, str) or not value or len(value) > _MAX_RELATIVE_LENGTH:
        raise InvalidRelativePath("relative path must be 1-1024 characters")
    candidates = {value, _fully_unquoted(value)}
    for candidate in candidates:
        if "\x00" in candidate or "\\" in candidate:
            raise InvalidRelativePath("relative path must not contain NUL or backslashes")
        if candidate.startswith(("/", "~")) or _DRIVE_PATTERN.match(candidate):
            raise InvalidRelativePath("relative path must not be absolute")
        parts = PurePosixPath(candidate).parts
        if any(part == ".." for part in parts):
            raise InvalidRelativePath("relative path must not contain '..'")
    check_os_path(value)
    kept = [p for p in PurePosixPath(value).parts if p not in ("", ".")]
    if not kept:
        raise InvalidRelativePath("relative path names nothing")
    return PurePosixPath(*kept)


class PathGuard:
    """Resolves ids and relative paths under one root directory and refuses every escape."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def contains(self, path: Path) -> bool:
        """True when `path`, with every symlink resolved, is the root or lies under it."""
        resolved = Path(check_os_path(str(path))).resolve()
        return resolved == self.root or self.root in resolved.parents

    def ensure_inside(self, path: Path) -> Path:
        """Return `path` resolved, or raise when it (through symlinks) leaves the root."""
        if not self.contains(path):
            raise PathOutsideDataDir("path leaves the data directory")
        return path.resolve()

    def child(self, *ids: str) -> Path:
        """Join ids (each one safe path component) under the root; symlink escapes are refused."""
        path = self.root
        for value in ids:
            path = path / check_id(value)
        return self.ensure_inside(path)

    def relative(self, relative: str, *, base: Path | None = None) -> Path:
        """Resolve a client relative path under `base` (default: the root), refusing escapes."""
        start = self.ensure_inside(base) if base is not None else self.root
        target = start.joinpath(*check_relative(relative).parts)
        resolved = target.resolve()
        if not (resolved == start or start in resolved.parents):
            raise PathOutsideDataDir("path leaves its directory")
        return resolved

    def locate(self, value: str) -> Path:
        """A client path that may be absolute (then it must lie inside the root) or relative to the root
        (checked like `relative`), resolved; anything that leaves the root is refused."""
        if isinstance(value, str) and value.startswith("/"):
            return self.ensure_inside(Path(value))
        return self.relative(value)

    def sub(self, *ids: str) -> PathGuard:
        """A guard rooted at a child directory (which need not exist yet)."""
        return PathGuard(self.child(*ids))

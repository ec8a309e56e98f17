"""Advisory file locks (fcntl.flock): they serialise writers across threads and processes, survive
nothing (a crashed holder's lock is released by the kernel) and need no in-memory registry."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from tator.errors import TatorError


@contextlib.contextmanager
def file_lock(path: Path, *, busy: TatorError | None = None, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive (or, with `shared`, a shared) lock on `path` (created if needed). With `busy`,
    don't wait: raise it instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (fcntl.LOCK_NB if busy is not None else 0))
        except BlockingIOError:
            assert busy is not None
            raise busy from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock

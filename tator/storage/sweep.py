"""Start-up removal of what a killed server left half-written: temp files of atomic writes, received
uploads that were never stored, folders renamed aside for deletion. Only names this server generates
(a hidden prefix and a random part) match, so a user's own files are never touched."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from tator.storage.files import LEFTOVER_FILES, remove_tree

log = logging.getLogger(__name__)

LEFTOVER_DIRS = re.compile(r"^\.(tmp|deleting|import)-[0-9a-f]{32}$")  # staging of derived views, deletes, imports


def remove_leftovers(root: Path) -> int:
    """Walk `root` (not following symlinks) and remove every leftover; returns how many."""
    removed = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [d for d in dirs if LEFTOVER_DIRS.match(d)]:
            remove_tree(Path(folder, name))
            dirs.remove(name)
            removed += 1
        for name in files:
            if LEFTOVER_FILES.match(name):
                Path(folder, name).unlink(missing_ok=True)
                removed += 1
    if removed:
        log.info("startup.leftovers_removed count=%d", removed)
    return removed

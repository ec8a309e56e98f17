"""Test-only pause points: lets a crash test stop the server at a named moment and kill it there.

`TATOR_TEST_PAUSE_AT=<name>` and `TATOR_TEST_PAUSE_FILE=<path>` are read once, at import (start-up).
When the named point is reached the server writes `<path>` and sleeps until it is killed. Unset (the
normal case) a pause point costs one string comparison.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

_AT = os.environ.get("TATOR_TEST_PAUSE_AT", "")
_FILE = os.environ.get("TATOR_TEST_PAUSE_FILE", "")


def pause_point(name: str) -> None:
    """Block forever at `name` when a crash test asked for it; otherwise return at once."""
    if not _AT or name != _AT or not _FILE:
        return
    Path(_FILE).write_text(name, encoding="utf-8")
    while True:
        time.sleep(3600)

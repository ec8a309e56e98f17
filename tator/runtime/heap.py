"""The process heap (glibc malloc): the one place that talks to the C allocator.

Two calls: `trim()` hands freed pages back to the OS (after an unload or a big decode), and
`tune_for_inference()` stops glibc from returning and re-faulting the same tens of megabytes on every
forward pass, and from growing one heap per worker thread. By default glibc serves blocks above a moving
threshold with fresh `mmap`s and gives the top of the heap back once it passes another; a detector's
activations sit right at those thresholds, so each predict touched 5,800 new pages (23 MB) and spent
14 ms in page faults on the development machine (docs/benchmarks.md, predict overhead). Fixed thresholds
keep those blocks in the heap for reuse; `trim()` still returns everything free when memory really is
released. No-ops off glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)

# mallopt(3) parameters
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

# Blocks up to this size come from the heap (model weights, far larger, keep their own mappings, and go
# back to the OS as soon as they are freed); the heap's free top is kept up to TRIM bytes between trims.
MMAP_THRESHOLD_BYTES = 64 * 2**20
TRIM_THRESHOLD_BYTES = 256 * 2**20
# Threads share this many heaps instead of one per thread (glibc allows 8 per core): with 16 clients on 40
# worker threads each extra heap grew to its own peak, and RSS crept up 10.5% over a load run (3.1% with 2).
ARENA_MAX = 2


@functools.cache
def _libc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim, libc.mallopt  # noqa: B018 - both must exist (glibc), else treat as absent
    except (OSError, AttributeError):
        return None
    return libc


def trim() -> bool:
    """Give freed heap pages back to the OS (glibc `malloc_trim`); False where there is no glibc."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def tune_for_inference() -> bool:
    """Fix glibc's mmap and trim thresholds (see the module text); True when applied."""
    libc = _libc()
    if libc is None:
        return False
    settings = ((_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES),
                (_M_ARENA_MAX, ARENA_MAX))  # fmt: skip
    applied = all(bool(libc.mallopt(param, value)) for param, value in settings)
    log.info("heap.tuned applied=%s mmap_threshold=%d trim_threshold=%d arena_max=%d", applied,
             MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES, ARENA_MAX)  # fmt: skip
    return applied

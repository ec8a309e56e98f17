"""The embedding cache: per image, keyed by its bytes, its crop boxes, the crop recipe and the backbone.

`<root>/<backbone fingerprint>/<aa>/<key>.npz` holds `embeddings [N, dim]` float32 for the image's boxes in
order. A changed image, box, padding or backbone file gives a new key, so an entry is never stale; entries
are written atomically and read with `allow_pickle=False`. Unreadable entries count as misses.

The whole cache root (every backbone) is bounded in bytes: a hit refreshes the entry's mtime, and a write
that takes the total over the bound evicts the least recently used entries (oldest mtime) first.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tator.storage.files import atomic_write_bytes, remove_tree

log = logging.getLogger(__name__)

CACHE_VERSION = 1
ENTRY_SUFFIX = ".npz"
EVICT_TO = 0.9  # evict down to this share of the bound, so the next writes do not each rescan


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    crops_from_cache: int = 0
    crops_embedded: int = 0


class EmbeddingCache:
    """Embeddings of one backbone + crop recipe under a cache root bounded to `max_bytes`; `enabled=False`
    (or a zero bound) makes every lookup a miss and writes nothing."""

    def __init__(self, root: Path, backbone: str, recipe: str, *, max_bytes: int, enabled: bool = True) -> None:
        self.root = root
        self.folder = root / backbone
        self.recipe = recipe
        self.enabled = enabled and max_bytes > 0
        self.max_bytes = max_bytes
        self.stats = CacheStats()
        self._total: int | None = None  # bytes under root, learnt on the first write

    def key(self, image_bytes: bytes, boxes: np.ndarray) -> str:
        digest = hashlib.sha256(f"v{CACHE_VERSION}\0{self.recipe}\0".encode())
        digest.update(hashlib.sha256(image_bytes).digest())
        digest.update(np.ascontiguousarray(boxes, dtype=np.float32).tobytes())
        return digest.hexdigest()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def get(self, key: str, count: int, dim: int | None = None) -> np.ndarray | None:
        """The cached `[count, dim]` embeddings, or None (a miss)."""
        if not self.enabled:
            return None
        path = self._path(key)
        found: np.ndarray | None = None
        with contextlib.suppress(OSError, ValueError, KeyError):
            with np.load(path, allow_pickle=False) as archive:
                found = np.asarray(archive["embeddings"], dtype=np.float32)
        if found is None or found.ndim != 2 or found.shape[0] != count or (dim is not None and found.shape[1] != dim):
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        self.stats.crops_from_cache += count
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return found

    def put(self, key: str, embeddings: np.ndarray) -> None:
        self.stats.crops_embedded += len(embeddings)
        if not self.enabled:
            return
        buffer = io.BytesIO()
        np.savez(buffer, embeddings=np.ascontiguousarray(embeddings, dtype=np.float32))
        data = buffer.getvalue()
        if len(data) > self.max_bytes:
            return
        if self._total is None:
            self._total = cache_usage(self.root).bytes
        try:
            atomic_write_bytes(self._path(key), data)
        except OSError:
            log.warning("clip.cache_write_failed key=%s", key[:12])
            return
        self._total += len(data)
        if self._total > self.max_bytes:
            evicted = evict_least_recent(self.root, int(self.max_bytes * EVICT_TO))
            self._total = cache_usage(self.root).bytes
            log.info("clip.cache_evicted bytes=%d now=%d max=%d", evicted, self._total, self.max_bytes)


@dataclass(frozen=True)
class CacheUsage:
    bytes: int
    files: int


def _entries(root: Path) -> list[tuple[float, int, Path]]:
    """(mtime, size, path) of every cache entry under root; never follows symlinks."""
    found: list[tuple[float, int, Path]] = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
        for name in names:
            path = Path(folder) / name
            with contextlib.suppress(OSError):
                info = path.lstat()
                if name.endswith(ENTRY_SUFFIX) and path.is_file() and not path.is_symlink():
                    found.append((info.st_mtime, info.st_size, path))
    return found


def cache_usage(root: Path) -> CacheUsage:
    """Bytes and number of cached entries under the cache root (every backbone)."""
    entries = _entries(root)
    return CacheUsage(sum(size for _, size, _ in entries), len(entries))


def evict_least_recent(root: Path, target_bytes: int) -> int:
    """Delete the least recently used entries until at most `target_bytes` remain; returns bytes freed."""
    entries = sorted(_entries(root), key=lambda entry: entry[0])
    total, freed = sum(size for _, size, _ in entries), 0
    for _, size, path in entries:
        if total - freed <= target_bytes:
            break
        with contextlib.suppress(OSError):
            path.unlink()
            freed += size
    return freed


def purge(root: Path) -> int:
    """Delete the whole embedding cache; returns the bytes freed. A job embedding meanwhile only misses."""
    freed = cache_usage(root).bytes
    started = time.time()
    for child in list(root.iterdir()) if root.is_dir() else []:
        remove_tree(child)
    log.info("clip.cache_purged bytes=%d secs=%.2f", freed, time.time() - started)
    return freed

"""The embedding cache: per image, keyed by its bytes, its crop boxes, the crop recipe and the backbone.

`<root>/<backbone fingerprint>/<aa>/<key>.npz` holds `embeddings [N, dim]` float32 for the image's boxes in
order. A changed image, box, padding or backbone file gives a new key, so an entry is never stale; entries
are written atomically and read with `allow_pickle=False`. Unreadable entries count as misses.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tator.storage.files import atomic_write_bytes

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    crops_from_cache: int = 0
    crops_embedded: int = 0


class EmbeddingCache:
    """Embeddings of one backbone + crop recipe; `enabled=False` makes every lookup a miss (nothing written)."""

    def __init__(self, root: Path, backbone: str, recipe: str, *, enabled: bool = True) -> None:
        self.folder = root / backbone
        self.recipe = recipe
        self.enabled = enabled
        self.stats = CacheStats()

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
        return found

    def put(self, key: str, embeddings: np.ndarray) -> None:
        self.stats.crops_embedded += len(embeddings)
        if not self.enabled:
            return
        buffer = io.BytesIO()
        np.savez(buffer, embeddings=np.ascontiguousarray(embeddings, dtype=np.float32))
        try:
            atomic_write_bytes(self._path(key), buffer.getvalue())
        except OSError:
            log.warning("clip.cache_write_failed key=%s", key[:12])

"""The mining cache: per-image SAM3 answers (boxes, scores, mask areas; no masks) as small JSON files
under `<uploads>/agent_mining/cache/`, so mining the same images again runs SAM3 only for what is new.

A key is the hash of (model, image file identity, prompt or exemplar box, output settings), so a changed
image or model never reads a stale answer. The cache is bounded by age (`ttl_hours`) and total size
(`max_bytes`, oldest files go first); `enforce` applies both and `purge` empties it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tator.storage.files import atomic_write_text

SUFFIX = ".json"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MiningCache:
    root: Path
    model: str  # the SAM3 source the answers came from

    def key(self, image_key: str, kind: str, what: str, settings: dict[str, Any]) -> str:
        raw = json.dumps([self.model, image_key, kind, what, settings], sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{SUFFIX}"

    def get(self, key: str) -> list[list[float]] | None:
        try:
            rows = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 6 for r in rows):
            return None
        return [[float(v) for v in r] for r in rows]

    def put(self, key: str, rows: list[list[float]]) -> bool:
        """Store an answer; a cache that cannot be written (disk full, a purge racing this write) costs a
        recomputation later, never the mining job: False then, with a warning."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(rows))
        except OSError as exc:
            log.warning("agent_mining.cache_write_failed key=%s error=%s", key[:12], type(exc).__name__)
            return False
        return True


def image_key(path: Path) -> str:
    """Identity of an image file: its path, size and modification time."""
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _files(root: Path) -> list[tuple[Path, os.stat_result]]:
    if not root.is_dir():
        return []
    out = []
    for path in root.rglob(f"*{SUFFIX}"):
        try:
            out.append((path, path.stat()))
        except OSError:
            continue
    return out


def enforce(root: Path, *, max_bytes: int, ttl_hours: float) -> tuple[int, int]:
    """Drop files older than `ttl_hours` (0 = no limit), then the oldest until under `max_bytes`.
    Returns (bytes, files) left."""
    now = time.time()
    files = sorted(_files(root), key=lambda f: f[1].st_mtime)
    kept = []
    for path, stat in files:
        if ttl_hours > 0 and now - stat.st_mtime > ttl_hours * 3600:
            path.unlink(missing_ok=True)
        else:
            kept.append((path, stat))
    total = sum(s.st_size for _, s in kept)
    while kept and total > max_bytes:
        path, stat = kept.pop(0)
        path.unlink(missing_ok=True)
        total -= stat.st_size
    return total, len(kept)


def purge(root: Path) -> tuple[int, int]:
    """Remove every cached answer; returns (bytes, files) deleted. The fan-out folders stay (at most 256,
    empty): a job that starts between the route's busy check and this purge then only misses answers,
    it never finds the folder it is writing into gone."""
    deleted_bytes = deleted_files = 0
    for path, stat in _files(root):
        path.unlink(missing_ok=True)
        deleted_bytes += stat.st_size
        deleted_files += 1
    return deleted_bytes, deleted_files

"""Dataset metadata (`dataset.json` and friends): what it holds, the signature, and the listing entry.

A dataset's signature is a hash of its *source* files (relative path, size, CRC-32), computed once when
it is created. Sources are never modified afterwards (conversions write under `.derived/`), so the
signature stays a stable identity for caches and lookups.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tator.datasets.formats.model import DatasetAnnotations
from tator.errors import MetadataWriteFailed
from tator.storage.files import atomic_write_json

log = logging.getLogger(__name__)

META_FILES: tuple[str, ...] = ("dataset.json", "metadata.json", "sam3_dataset.json")
DERIVED_DIR = ".derived"
CAPTIONS_DIR = "text_labels"
MAX_META_BYTES = 16 * 1024 * 1024
GLOSSARY_PREVIEW_CHARS = 160


def signature(fingerprint: Iterable[tuple[str, int, int]]) -> str:
    """16 hex digits identifying a file set by (relative path, size, crc32) of each file."""
    digest = hashlib.sha256()
    for path, size, crc in sorted(fingerprint):
        digest.update(f"{path}\x00{size}\x00{crc:08x}\n".encode())
    return digest.hexdigest()[:16]


def tree_fingerprint(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, crc32) of every file under `root`, sorted: what `signature` hashes for a
    dataset assembled on disk (a zip upload reads the same triples from its central directory)."""
    found: list[tuple[str, int, int]] = []
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        data = file.read_bytes()
        found.append((file.relative_to(root).as_posix(), len(data), zlib.crc32(data)))
    return found


def load_json_file(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or None when it is missing, too big or not an object (never raises)."""
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_META_BYTES:
            return None
        value = json.loads(path.read_bytes())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        log.warning("dataset.meta_unreadable path=%s", path)
        return None
    return value if isinstance(value, dict) else None


def read_meta(root: Path) -> tuple[dict[str, Any], Path | None]:
    """The first metadata file present (dataset.json, metadata.json, sam3_dataset.json) and its path."""
    for name in META_FILES:
        meta = load_json_file(root / name)
        if meta is not None:
            return meta, root / name
    return {}, None


def write_meta(path: Path, meta: dict[str, Any]) -> None:
    try:
        atomic_write_json(path, meta)
    except OSError as exc:
        raise MetadataWriteFailed(f"could not write {path.name}: {exc.strerror or exc}") from exc


def split_counts(ann: DatasetAnnotations) -> dict[str, int]:
    counts = {split: len(ann.split(split)) for split in ann.splits}
    return {
        "train_count": counts.get("train", 0),
        "val_count": counts.get("val", 0),
        "test_count": counts.get("test", 0),
    }


def build_meta(
    ann: DatasetAnnotations, *, dataset_id: str, label: str, dataset_type: str, context: str, source: str,
    fmt: str, sig: str, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The metadata record written when a dataset is created (the reference's fields first)."""
    return {
        "id": dataset_id,
        "label": label,
        "type": "seg" if ann.has_polygons else dataset_type,
        "context": context,
        "created_at": time.time(),
        "source": source,
        "classes": list(ann.classes),
        **split_counts(ann),
        "image_count": len(ann.images),
        "box_count": ann.box_count,
        "signature": sig,
        "format": fmt,
        "labelmap_glossary": "",
        **(extra or {}),
    }


def glossary_preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= GLOSSARY_PREVIEW_CHARS else flat[: GLOSSARY_PREVIEW_CHARS - 1] + "\u2026"


def count_captions(root: Path) -> int:
    folder = root / CAPTIONS_DIR
    if not folder.is_dir() or folder.is_symlink():
        return 0
    return sum(1 for p in folder.iterdir() if p.suffix == ".txt" and p.is_file())

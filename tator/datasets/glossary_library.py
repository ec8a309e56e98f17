"""The named glossary library: `uploads/glossaries/<safe name>.json` holding `{name, glossary, updated_at}`.

The file name is the name with every run of characters outside `[A-Za-z0-9._-]` turned into `-` (so
"Object class" is `Object-class.json`). Names with path separators, `..` or control characters are
refused rather than rewritten; two names that map to one file are a conflict, never an overwrite.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any

from tator.datasets.glossary import normalise_glossary
from tator.datasets.meta import glossary_preview, load_json_file
from tator.errors import (
    GlossaryNameConflict,
    GlossaryNameInvalid,
    GlossaryNameRequired,
    GlossaryNotFound,
    GlossarySaveFailed,
)
from tator.storage.files import atomic_write_json
from tator.storage.paths import PathGuard

MAX_NAME_CHARS = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def file_stem(name: str) -> str:
    """The file stem a glossary name is stored under; invalid names raise."""
    name = name.strip()
    if not name:
        raise GlossaryNameRequired("glossary name is required")
    if len(name) > MAX_NAME_CHARS or _CONTROL.search(name) or "/" in name or "\\" in name or ".." in name:
        raise GlossaryNameInvalid(
            f"glossary name must be 1-{MAX_NAME_CHARS} characters without '/', '\\\\', '..' or control characters"
        )
    stem = _UNSAFE.sub("-", name).strip("._-")[:120].rstrip("._-")
    return stem or "glossary-" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]


def _path(root: Path, name: str) -> Path:
    return PathGuard(root).child(f"{file_stem(name)}.json")


def list_glossaries(root: Path) -> list[dict[str, Any]]:
    """`[{name, preview, updated_at}]` sorted by name."""
    items: list[dict[str, Any]] = []
    for path in sorted(root.glob("*.json")):
        record = load_json_file(path)
        if record is None or not isinstance(record.get("name"), str):
            continue
        value = record.get("glossary")
        text = value if isinstance(value, str) else ""
        updated = record.get("updated_at")
        items.append({
            "name": record["name"], "preview": glossary_preview(text),
            "updated_at": updated if isinstance(updated, int | float) else path.stat().st_mtime,
        })  # fmt: skip
    return sorted(items, key=lambda item: str(item["name"]).casefold())


def get_glossary(root: Path, name: str) -> dict[str, Any]:
    record = load_json_file(_path(root, name))
    if record is None:
        raise GlossaryNotFound(f"glossary {name[:128]!r} not found", name=name[:128])
    text = record.get("glossary") if isinstance(record.get("glossary"), str) else ""
    return {"name": record.get("name", name.strip()), "glossary": text}


def save_glossary(root: Path, name: str, glossary: Any) -> dict[str, Any]:
    """Create or replace a named glossary (atomically)."""
    path = _path(root, name)
    name = name.strip()
    existing = load_json_file(path)
    if existing is not None and existing.get("name") not in (None, name):
        raise GlossaryNameConflict(f"glossary {existing.get('name')!r} already uses this file name", name=name)
    record = {"name": name, "glossary": normalise_glossary(glossary), "updated_at": time.time()}
    try:
        atomic_write_json(path, record)
    except OSError as exc:
        raise GlossarySaveFailed(f"could not save glossary: {exc.strerror or exc}") from exc
    return {"status": "saved", "name": name}


def delete_glossary(root: Path, name: str) -> dict[str, Any]:
    path = _path(root, name)
    if not path.is_file():
        raise GlossaryNotFound(f"glossary {name[:128]!r} not found", name=name[:128])
    path.unlink()
    return {"status": "deleted", "name": name.strip()}

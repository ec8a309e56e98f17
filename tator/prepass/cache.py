"""The per-image prepass cache: one JSON record per (image content, canonical config), written atomically.

Layout: `<cache root>/<config key>/<sha[:2]>/<sha>.json`, where `sha` is the sha256 of the image file's bytes
and the config key hashes the prepass config, the labelmap, the glossary terms and the models' identity. A
record is only ever complete (temp file + rename), so a job killed at any moment resumes from the images it
finished; a record that does not parse counts as missing.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from tator.prepass.candidates import Candidate
from tator.storage.files import atomic_write_text

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1


class ImageRecord(BaseModel):
    """The prepass of one dataset image: its candidates (pixel xyxy, dataset class ids) and warnings."""

    schema_version: int = Field(default=SCHEMA_VERSION, description="Record layout version.")
    image: str = Field(description="Image path relative to the dataset root.")
    split: str = Field(description="The image's split in the dataset.")
    image_sha256: str = Field(description="sha256 of the image file's bytes.")
    width: int = Field(description="Image width in pixels.")
    height: int = Field(description="Image height in pixels.")
    candidates: list[Candidate] = Field(description="Deduped candidates, highest score first.")
    warnings: list[str] = Field(default_factory=list, description="The run's warnings.")
    model_seconds: float = Field(default=0.0, description="Time inside model calls when it was computed.")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_path(folder: Path, sha: str) -> Path:
    return folder / sha[:2] / f"{sha}.json"


def read_record(folder: Path, sha: str) -> ImageRecord | None:
    """The cached record of an image, or None (missing, unreadable or from another schema)."""
    path = record_path(folder, sha)
    try:
        record = ImageRecord.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError, ValueError):
        log.warning("prepass.cache_unreadable path=%s", path)
        return None
    return record if record.schema_version == SCHEMA_VERSION and record.image_sha256 == sha else None


def write_record(folder: Path, record: ImageRecord) -> None:
    path = record_path(folder, record.image_sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, record.model_dump_json())

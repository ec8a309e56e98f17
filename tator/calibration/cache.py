"""Cached prepass output that calibration reads: one JSON record per image.

Layout (under the data directory): `calibration_cache/prepass/<prepass id>/images/<sha1 of the image key>.json`,
each `{"image": <path relative to the dataset root>, "detections": [<candidate records>], "warnings": [...]}`
(the reference's calibration cache record). Records are written atomically, so an interrupted prepass leaves
only whole records and a rerun continues from them. A record says the prepass ran on the image: an image without a
record was not prepassed, which is not the same as an image where nothing was found.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tator.errors import CalibrationPrepassNotFound
from tator.storage.files import atomic_write_json
from tator.storage.paths import check_id

PREPASS_DIR = "prepass"
MAX_RECORD_BYTES = 32 * 1024 * 1024


def prepass_folder(cache_root: Path, prepass_id: str, *, must_exist: bool = True) -> Path:
    """The folder of one cached prepass (`calibration_cache/prepass/<id>`); 404 when it must exist and does not."""
    folder = cache_root / PREPASS_DIR / check_id(prepass_id, what="prepass_id")
    if must_exist and not (folder / "images").is_dir():
        raise CalibrationPrepassNotFound(f"no cached prepass {prepass_id!r}", prepass_id=prepass_id)
    return folder


def _record_path(folder: Path, image: str) -> Path:
    return folder / "images" / f"{hashlib.sha1(image.encode('utf-8')).hexdigest()}.json"


def write_record(
    folder: Path, image: str, detections: Sequence[Mapping[str, Any]], warnings: Iterable[str] = ()
) -> None:
    """Store one image's prepass candidates."""
    record = {"image": image, "detections": [dict(d) for d in detections], "warnings": list(warnings)}
    (folder / "images").mkdir(parents=True, exist_ok=True)
    atomic_write_json(_record_path(folder, image), record)


def read_record(folder: Path, image: str) -> list[dict[str, Any]] | None:
    """The image's cached candidates, or None when the image has no (readable, matching) record."""
    path = _record_path(folder, image)
    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return None
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("image") != image or not isinstance(record.get("detections"), list):
        return None
    return [d for d in record["detections"] if isinstance(d, dict)]


def only_sources(detections: Sequence[Mapping[str, Any]], sources: Sequence[str]) -> list[dict[str, Any]]:
    """The candidates as if only `sources` had run: other sources' scores removed, boxes only they proposed
    dropped, the score the best remaining source score."""
    wanted = set(sources)
    out: list[dict[str, Any]] = []
    for det in detections:
        by_source = {k: v for k, v in dict(det.get("score_by_source") or {}).items() if k in wanted}
        if not by_source:
            continue
        out.append({**det, "score_by_source": by_source, "score": max(float(v) for v in by_source.values())})
    return out


def import_records(cache_root: Path, prepass_id: str, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Store prepass records computed elsewhere (`{"image", "detections", "warnings"?}` each) under `prepass_id`,
    creating the cached prepass when new; returns how many were written and how many the prepass now holds."""
    folder = prepass_folder(cache_root, prepass_id, must_exist=False)
    for record in records:
        write_record(folder, str(record["image"]), record["detections"], record.get("warnings") or ())
    total = sum(1 for _ in (folder / "images").glob("*.json")) if (folder / "images").is_dir() else 0
    return {"prepass_id": prepass_id, "written": len(records), "images": total}

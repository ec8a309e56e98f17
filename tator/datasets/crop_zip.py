"""Crop-zip jobs: the UI sends images with boxes in chunks; each box becomes a JPEG crop kept on disk,
and finalize streams them as `crops.zip`. Nothing accumulates in memory across requests.

Crop names follow the reference: `<image stem>-<className>-<box index>.jpg` (index 0-based within the
image), with path separators and `..` removed; a repeated name gets `_1`, `_2` ...
Boxes are pixel `x, y, width, height` (top-left + size), clipped to the image; empty ones are skipped.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from tator.datasets.formats.model import unique_name
from tator.datasets.locks import file_lock
from tator.datasets.meta import load_json_file
from tator.datasets.zipstream import stream_zip
from tator.errors import CropZipJobNotFound, CropZipTooLarge, InvalidId
from tator.runtime.images import ImageLimits, decode_base64_image
from tator.storage.files import atomic_write_json, remove_tree
from tator.storage.paths import PathGuard

log = logging.getLogger(__name__)

JOB_TTL_S = 24 * 3600
JPEG_QUALITY = 90
MAX_BOXES_PER_CHUNK = 10_000  # boxes over all images of one chunk (each image may also hold 10,000)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


@dataclass(frozen=True)
class CropBox:
    class_name: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class CropImage:
    image_base64: str
    original_name: str
    boxes: Sequence[CropBox]


def _safe(text: str, fallback: str) -> str:
    cleaned = _UNSAFE.sub("_", text).replace("..", "_").strip(" .")
    return cleaned[:100] or fallback


def crop_names(image: CropImage) -> list[str]:
    """The base name of each box's crop (before de-duplication)."""
    base = PurePosixPath(image.original_name.replace("\\", "/")).name
    stem = _safe(base.rsplit(".", 1)[0] if "." in base else base, "image")
    return [f"{stem}-{_safe(box.class_name, 'object')}-{index}.jpg" for index, box in enumerate(image.boxes)]


def _job_dir(root: Path, job_id: str) -> Path:
    try:
        path = PathGuard(root).child(job_id)
    except InvalidId as exc:
        raise CropZipJobNotFound(f"crop zip job {job_id[:64]!r} not found", job_id=job_id[:64]) from exc
    if not (path / "job.json").is_file():
        raise CropZipJobNotFound(f"crop zip job {job_id[:64]!r} not found", job_id=job_id[:64])
    return path


def init_job(root: Path) -> dict[str, str]:
    """Start a job; stale jobs (idle over a day) are swept first."""
    now = time.time()
    for child in [p for p in root.iterdir() if p.is_dir()]:
        record = load_json_file(child / "job.json")
        if not record or now - float(record.get("updated_at", 0)) > JOB_TTL_S:
            remove_tree(child)
    job_id = str(uuid.uuid4())
    (root / job_id / "crops").mkdir(parents=True)
    atomic_write_json(
        root / job_id / "job.json", {"created_at": now, "updated_at": now, "images": 0, "crops": 0, "bytes": 0}
    )
    return {"jobId": job_id}


def _crop(pixels: Any, box: CropBox) -> Image.Image | None:
    height, width = pixels.shape[:2]
    left, top = max(0, min(round(box.x), width)), max(0, min(round(box.y), height))
    right, bottom = max(0, min(round(box.x + box.width), width)), max(0, min(round(box.y + box.height), height))
    if right <= left or bottom <= top:
        return None
    return Image.fromarray(pixels[top:bottom, left:right])


def _check_boxes(images: Sequence[CropImage]) -> None:
    boxes = sum(len(image.boxes) for image in images)
    if boxes > MAX_BOXES_PER_CHUNK:
        raise CropZipTooLarge(
            f"a chunk may hold at most {MAX_BOXES_PER_CHUNK} boxes in all ({boxes} sent); send smaller chunks",
            limit_boxes=MAX_BOXES_PER_CHUNK,
        )


def _write_crops(
    job: Path, pending: Path, images: Sequence[CropImage], limits: ImageLimits, budget: int
) -> tuple[int, int]:
    """Encode each crop in memory and write it only if it fits in what is left of the job's byte budget."""
    taken = {PurePosixPath(name).stem.casefold() for name in os.listdir(job / "crops")}
    count = size = 0
    for image in images:
        pixels = decode_base64_image(image.image_base64, limits)
        for box, name in zip(image.boxes, crop_names(image), strict=True):
            crop = _crop(pixels, box)
            if crop is None:
                continue
            encoded = io.BytesIO()
            crop.save(encoded, format="JPEG", quality=JPEG_QUALITY)
            if size + encoded.tell() > budget:
                raise CropZipTooLarge(f"crops exceed the job's byte budget ({budget} bytes left)", limit_bytes=budget)
            (pending / unique_name(name, taken)).write_bytes(encoded.getvalue())
            count += 1
            size += encoded.tell()
    return count, size


def add_chunk(
    root: Path, job_id: str, images: Sequence[CropImage], *, limits: ImageLimits, max_bytes: int
) -> dict[str, Any]:
    """Crop every box of every image; all crops of a chunk are kept, or (on any error) none. The job's byte
    budget is checked before each crop is written, so a refused chunk never fills the disk first."""
    _check_boxes(images)
    job = _job_dir(root, job_id)
    with file_lock(job / ".lock"):
        record = load_json_file(job / "job.json") or {}
        pending = job / f"pending-{uuid.uuid4().hex}"
        pending.mkdir()
        try:
            count, size = _write_crops(job, pending, images, limits, max_bytes - int(record.get("bytes", 0)))
            total = int(record.get("bytes", 0)) + size
            for path in pending.iterdir():
                os.replace(path, job / "crops" / path.name)
        finally:
            remove_tree(pending)
        record.update(updated_at=time.time(), bytes=total, images=int(record.get("images", 0)) + len(images),
                      crops=int(record.get("crops", 0)) + count)  # fmt: skip
        atomic_write_json(job / "job.json", record)
    return {"status": "ok", "count": len(images), "crops": count, "total_crops": record["crops"]}


def finalize_job(root: Path, job_id: str) -> Iterator[bytes]:
    """The zip of every crop, streamed; the job is deleted once the stream ends (or is abandoned)."""
    job = _job_dir(root, job_id)

    def chunks() -> Iterator[bytes]:
        try:
            crops = sorted((job / "crops").iterdir())
            yield from stream_zip((path, path.name) for path in crops)
            log.info("crop_zip.finalized id=%s crops=%d", job_id, len(crops))
        finally:
            with contextlib.suppress(OSError):
                remove_tree(job)

    return chunks()

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
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from tator.datasets.formats.model import unique_name
from tator.datasets.upload_sessions import SessionStore
from tator.datasets.zipstream import stream_zip
from tator.errors import CropZipJobNotFound, CropZipTooLarge
from tator.runtime.images import ImageLimits, decode_base64_image
from tator.storage.files import remove_tree
from tator.vision.boxes import clip_xyxy, xywh_to_xyxy

log = logging.getLogger(__name__)

KIND = "crop_zip"
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


def _store(root: Path) -> SessionStore:
    def not_found(job_id: str) -> CropZipJobNotFound:
        return CropZipJobNotFound(f"crop zip job {job_id[:64]!r} not found", job_id=job_id[:64])

    return SessionStore(root, KIND, not_found=not_found, busy=not_found, bad_id_not_found=True)


def init_job(root: Path) -> dict[str, str]:
    """Start a job (an upload session of kind `crop_zip`); expired sessions are swept first."""
    path, _record = _store(root).create({"images": 0, "crops": 0, "bytes": 0}, session_id=str(uuid.uuid4()))
    (path / "crops").mkdir()
    return {"jobId": path.name}


def _crop(pixels: Any, box: CropBox) -> Image.Image | None:
    height, width = pixels.shape[:2]
    xyxy = clip_xyxy(xywh_to_xyxy((box.x, box.y, box.width, box.height)), width, height)[0]
    left, top, right, bottom = (round(float(v)) for v in xyxy)
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
    store = _store(root)
    with store.locked(job_id, wait=True) as (job, record):
        pending = job / f"pending-{uuid.uuid4().hex}"
        pending.mkdir()
        try:
            count, size = _write_crops(job, pending, images, limits, max_bytes - int(record.get("bytes", 0)))
            total = int(record.get("bytes", 0)) + size
            for path in pending.iterdir():
                os.replace(path, job / "crops" / path.name)
        finally:
            remove_tree(pending)
        record.update(bytes=total, images=int(record.get("images", 0)) + len(images),
                      crops=int(record.get("crops", 0)) + count)  # fmt: skip
        record = store.save(job, record)
    return {"status": "ok", "count": len(images), "crops": count, "total_crops": record["crops"]}


def finalize_job(root: Path, job_id: str) -> Iterator[bytes]:
    """The zip of every crop, streamed; the job is deleted once the stream ends (or is abandoned)."""
    job, _record = _store(root).load(job_id)

    def chunks() -> Iterator[bytes]:
        try:
            crops = sorted((job / "crops").iterdir())
            yield from stream_zip((path, path.name) for path in crops)
            log.info("crop_zip.finalized id=%s crops=%d", job_id, len(crops))
        finally:
            with contextlib.suppress(OSError):
                remove_tree(job)

    return chunks()

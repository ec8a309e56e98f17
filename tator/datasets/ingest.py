"""Turn an uploaded zip into a registry dataset: check, extract to staging, validate, then rename into place.

Everything happens in `uploads/dataset_uploads/staging-*`; only a complete, valid dataset is renamed
into the registry, so a failed upload leaves nothing behind.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tator.datasets import zipsafe
from tator.datasets.detect import Detected, check_images_decoded, detect_dataset
from tator.datasets.formats.yolo import write_yolo
from tator.datasets.install import find_upload, install, numbered
from tator.datasets.meta import DERIVED_DIR, META_FILES, build_meta, load_json_file, signature
from tator.datasets.views import yolo_layout_record
from tator.errors import DatasetTypeInvalid, DatasetZipInvalid, IdempotencyKeyInvalid
from tator.storage.files import remove_tree
from tator.storage.layout import Layout
from tator.storage.paths import check_id
from tator.storage.pause import pause_point

log = logging.getLogger(__name__)

DATASET_TYPES = ("bbox", "seg")
FORMAT_OF = {"yolo": "yolo", "coco": "yolo", "qwen": "qwen"}  # the listing's format: the ready YOLO/Qwen form
MAX_LABEL_CHARS = 200
_UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass(frozen=True)
class UploadOptions:
    dataset_id: str | None = None  # validated strictly: a bad id is refused, never rewritten
    label: str | None = None
    dataset_type: str = "bbox"
    context: str = ""
    filename: str | None = None  # the client's zip name: the id falls back to its (sanitised) stem
    idempotency_key: str | None = None  # a retry with the same key gets the dataset this upload made
    session_id: str | None = None  # the upload session it came from (finalize is idempotent by it)

    def upload_key(self) -> tuple[str, str] | None:
        if self.idempotency_key:
            return ("idempotency_key", self.idempotency_key)
        return ("session_id", self.session_id) if self.session_id else None


def clean_label(value: str) -> str:
    """A display label: control characters dropped, whitespace collapsed, at most 200 characters."""
    text = "".join(ch for ch in unicodedata.normalize("NFC", value) if unicodedata.category(ch)[0] != "C")
    return " ".join(text.split())[:MAX_LABEL_CHARS]


def _label(options: UploadOptions) -> str:
    stem = PurePosixPath((options.filename or "").replace("\\", "/")).stem
    return clean_label(options.label or options.dataset_id or stem)


def base_id(options: UploadOptions) -> str:
    """The id to create: the given dataset_id (checked) or the upload file's stem made safe."""
    if options.dataset_id:
        return check_id(options.dataset_id.strip(), what="dataset_id")
    stem = PurePosixPath((options.filename or "").replace("\\", "/")).stem
    safe = _UNSAFE_ID_CHARS.sub("_", unicodedata.normalize("NFKD", stem)).strip("._-")[:100]
    return safe or "dataset"


def check_options(options: UploadOptions) -> None:
    if options.dataset_type not in DATASET_TYPES:
        raise DatasetTypeInvalid(f"dataset_type must be one of {', '.join(DATASET_TYPES)}")
    if options.idempotency_key is not None:
        check_idempotency_key(options.idempotency_key)
    base_id(options)


def check_idempotency_key(key: str) -> str:
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise IdempotencyKeyInvalid("an idempotency key is 1-128 letters, digits, '.', '_', ':' or '-'")
    return key


def previous_upload(layout: Layout, key: str) -> dict[str, Any] | None:
    """The metadata of the dataset an upload with this idempotency key already created, if any."""
    ref = find_upload(layout, "idempotency_key", check_idempotency_key(key))
    return None if ref is None else ref.meta


def _views(data: Path, detected: Detected) -> dict[str, Any]:
    views: dict[str, Any] = {}
    if detected.source_format == "yolo" and detected.yolo is not None and detected.yolo.canonical:
        views["yolo"] = yolo_layout_record(".", detected.yolo)
    elif detected.source_format != "images" and detected.annotations.classes:
        layout = write_yolo(detected.annotations, data / DERIVED_DIR / "yolo")
        views["yolo"] = yolo_layout_record(f"{DERIVED_DIR}/yolo", layout)
    if detected.source_format in ("coco", "qwen"):
        views[detected.source_format] = {"files": detected.files}
    return views


def _prepare(archive: Path, data: Path, limits: zipsafe.ZipLimits) -> tuple[Detected, str]:
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetZipInvalid(f"not a readable zip file: {exc}") from exc
    with zf:
        members = zipsafe.plan(zf, limits)
        data.mkdir(parents=True)
        extracted = zipsafe.extract(zf, members, data, limits)
    detected = detect_dataset(data, extracted.image_sizes)
    check_images_decoded(detected.annotations, extracted.image_sizes)
    # dataset.json is always replaced by ours (a re-uploaded download carries the old one): not source data
    return detected, signature(f for f in extracted.fingerprint if f[0] != "dataset.json")


def _inherited(data: Path) -> dict[str, str]:
    """Glossary and context carried by metadata inside the upload (a download, a Qwen export ...)."""
    found: dict[str, str] = {}
    for name in (*META_FILES, "dataset_meta.json"):
        meta = load_json_file(data / name) or {}
        for key in ("labelmap_glossary", "context"):
            value = meta.get(key)
            if isinstance(value, str) and value.strip() and key not in found:
                found[key] = value
    return found


def _metadata(
    detected: Detected, data: Path, dataset_id: str, options: UploadOptions, sig: str, archive_bytes: int
) -> dict[str, Any]:
    inherited = _inherited(data)
    views = _views(data, detected)
    yolo = views.get("yolo")
    extra = {
        "source_format": detected.source_format,
        "views": views,
        "yolo_layout": None if yolo is None else ("flat" if yolo["flat"] else "split"),
        "upload": {
            "filename": (options.filename or "")[:255],
            "bytes": archive_bytes,
            "idempotency_key": options.idempotency_key,
            "session_id": options.session_id,
        },
    }
    meta = build_meta(
        detected.annotations, dataset_id=dataset_id, label=_label(options) or dataset_id,
        dataset_type=options.dataset_type, context=options.context or inherited.get("context", ""),
        source="registry", fmt=FORMAT_OF.get(detected.source_format, "unknown"), sig=sig, extra=extra,
    )  # fmt: skip
    meta["labelmap_glossary"] = inherited.get("labelmap_glossary", "")
    return meta


def ingest_archive(
    archive: Path, *, layout: Layout, options: UploadOptions, limits: zipsafe.ZipLimits
) -> dict[str, Any]:
    """Create a registry dataset from a zip; returns its metadata. Any failure removes every trace."""
    check_options(options)
    work = layout.root("dataset_uploads") / f"staging-{uuid.uuid4().hex}"
    started = time.perf_counter()
    try:
        data = work / "data"
        detected, sig = _prepare(archive, data, limits)
        pause_point("dataset.ingest.extracted")
        meta = _install(data, detected, sig, layout=layout, options=options, source_bytes=archive.stat().st_size)
    finally:
        remove_tree(work)
    ann = detected.annotations
    log.info(
        "dataset.uploaded id=%s format=%s images=%d boxes=%d secs=%.2f",
        meta["id"], detected.source_format, len(ann.images), ann.box_count, time.perf_counter() - started,
    )  # fmt: skip
    return meta


def _install(
    data: Path, detected: Detected, sig: str, *, layout: Layout, options: UploadOptions, source_bytes: int
) -> dict[str, Any]:
    """Rename the validated tree `data` into the registry under the first free id (the rename is the claim)."""
    wanted = base_id(options)
    meta, created = install(
        layout, layout.root("dataset_registry"), data, numbered(wanted),
        lambda dataset_id: _metadata(detected, data, dataset_id, options, sig, source_bytes),
        upload_key=options.upload_key(),
    )  # fmt: skip
    # a retry answered from an earlier upload is not a rename: only a new dataset under another id says so
    return {**meta, **upload_notices(wanted, meta["id"] if created else wanted, detected)}


def upload_notices(wanted: str, dataset_id: str, detected: Detected) -> dict[str, Any]:
    """What the answer to an upload must say beyond the metadata: a renamed id, nothing annotated."""
    warnings: list[str] = []
    notes: list[str] = []
    if dataset_id != wanted:
        warnings.append("dataset_id_taken")
        notes.append(
            f"dataset id {wanted!r} is already taken, so this upload was saved as {dataset_id!r}; to replace "
            f"the existing dataset, DELETE /datasets/{wanted} first and upload again"
        )
    if detected.source_format == "images":
        warnings.append("dataset_has_no_annotations")
        notes.append("the zip has images but no labels: the dataset is created unannotated")
    if not warnings:
        return {}
    return {"requested_dataset_id": wanted, "warnings": warnings, "notice": "; ".join(notes)}


def ingest_tree(
    data: Path, *, layout: Layout, options: UploadOptions, sizes: dict[str, tuple[int, int]],
    fingerprint: list[tuple[str, int, int]], source_bytes: int,
) -> dict[str, Any]:  # fmt: skip
    """Create a registry dataset from an already staged, image-validated tree `data` (moved, not copied).

    `sizes` are the decoded image sizes (relative path -> w, h) and `fingerprint` the (path, size, crc32)
    of every file; the tree is detected and validated exactly like an extracted zip."""
    check_options(options)
    detected = detect_dataset(data, sizes)
    check_images_decoded(detected.annotations, sizes)
    sig = signature(f for f in fingerprint if f[0] != "dataset.json")
    meta = _install(data, detected, sig, layout=layout, options=options, source_bytes=source_bytes)
    log.info("dataset.uploaded id=%s format=%s images=%d", meta["id"], detected.source_format, len(sizes))
    return meta


def ingest_received(
    archive: Path, folder: Path, *, layout: Layout, options: UploadOptions, limits: zipsafe.ZipLimits
) -> dict[str, Any]:
    """`ingest_archive` for a zip received into its own staging `folder`, which is removed afterwards."""
    try:
        return ingest_archive(archive, layout=layout, options=options, limits=limits)
    finally:
        remove_tree(folder)

"""A `/clip/train` multipart upload (images, YOLO label files, a labelmap) staged as a flat YOLO folder.

Files are streamed to `<staging>/<job id>/{images,labels}/` under one byte budget for the whole upload;
only base names are used, and each must be a safe file name. The staged folder is read back through the
datasets package like any registered dataset, and removed when the job ends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from tator.datasets.catalog import DatasetRef
from tator.datasets.formats.model import DatasetAnnotations, is_image_name
from tator.datasets.labels import labelmap_text, parse_labelmap_text
from tator.datasets.views import load_annotations
from tator.errors import (
    ImagesRequired,
    InvalidId,
    LabelmapInvalid,
    LabelmapMissing,
    LabelsRequired,
    UploadFilenameInvalid,
    UploadTooLarge,
)
from tator.storage.files import atomic_write_text, remove_tree, save_stream
from tator.storage.paths import check_id

log = logging.getLogger(__name__)

IMAGE_FIELDS = ("images", "images[]", "files", "files[]")
LABEL_FIELDS = ("labels", "labels[]")
LABELMAP_FIELDS = ("labelmap", "labelmap_file")
MAX_LABELMAP_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class UploadedFile:
    """One file part of the form: its field name, client file name and a readable stream."""

    field: str
    filename: str | None
    stream: BinaryIO


def _safe_name(filename: str | None) -> str:
    name = PurePosixPath((filename or "").replace("\\", "/")).name.strip()
    try:
        return check_id(name, what="filename")
    except InvalidId as exc:
        raise UploadFilenameInvalid(f"file name {name[:80]!r} must be letters, digits, '.', '_' or '-'") from exc


class _Budget:
    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes
        self.limit = max_bytes

    def save(self, src: BinaryIO, dest: Path) -> None:
        try:
            saved = save_stream(src, dest, max_bytes=max(self.left, 0))
        except UploadTooLarge as exc:
            raise UploadTooLarge(f"the upload exceeds {self.limit} bytes", limit_bytes=self.limit) from exc
        self.left -= saved.size


def stage_upload(files: Sequence[UploadedFile], dest: Path, *, max_bytes: int) -> DatasetAnnotations:
    """Stage the form's files under `dest` and read them as a dataset; `dest` is removed on any error."""
    images = [f for f in files if f.field in IMAGE_FIELDS]
    labels = [f for f in files if f.field in LABEL_FIELDS]
    labelmaps = [f for f in files if f.field in LABELMAP_FIELDS]
    if not images:
        raise ImagesRequired("send the training images as `images` files (or a registered dataset_id)")
    if not labels:
        raise LabelsRequired("send one YOLO label file per image as `labels` files")
    if not labelmaps:
        raise LabelmapMissing("send the class names as a `labelmap` file (one name per line)")
    try:
        budget = _Budget(max_bytes)
        for upload in images:
            name = _safe_name(upload.filename)
            if not is_image_name(name):
                raise UploadFilenameInvalid(f"{name} is not an image file name")
            budget.save(upload.stream, dest / "images" / name)
        for upload in labels:
            name = _safe_name(upload.filename)
            budget.save(upload.stream, dest / "labels" / f"{PurePosixPath(name).stem}.txt")
        _stage_labelmap(labelmaps[0], dest / "labelmap.txt")
        ref = DatasetRef(dest.name, dest, "clip_upload", dest.parent, {}, None)
        annotations = load_annotations(ref)
    except BaseException:
        remove_tree(dest)
        raise
    log.info("clip.upload_staged dir=%s images=%d labels=%d", dest.name, len(images), len(labels))
    return annotations


def _stage_labelmap(upload: UploadedFile, dest: Path) -> None:
    data = upload.stream.read(MAX_LABELMAP_BYTES + 1)
    if len(data) > MAX_LABELMAP_BYTES:
        raise LabelmapInvalid(f"the labelmap is over {MAX_LABELMAP_BYTES} bytes")
    try:
        names = parse_labelmap_text(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LabelmapInvalid("the labelmap must be UTF-8 text, one class name per line") from exc
    if not names:
        raise LabelmapInvalid("the labelmap names no class")
    atomic_write_text(dest, labelmap_text(names))

"""Per-image upload sessions: start with the labelmap, send batches of images + YOLO label text, finalize.

A session lives beside the raw-bytes sessions, under `uploads/dataset_uploads/sessions/<id>/`
(the shared session record of `upload_sessions`, kind `images`, + a `staging/` YOLO tree), so it
survives a restart. Each batch is validated in full (path guard, image decode, label lines) in a scratch
folder before anything of it is moved into `staging/`; re-sending a filename replaces it, so a client
can retry a batch. Finalize hands the staged tree to the ingest step, which validates it like an
extracted zip and renames it into place.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from tator.datasets.formats.model import is_image_name
from tator.datasets.formats.yolo import LabelLineError, parse_label_line
from tator.datasets.imagecheck import validate_image
from tator.datasets.ingest import UploadOptions, check_options, ingest_tree
from tator.datasets.labels import labelmap_text
from tator.datasets.meta import tree_fingerprint
from tator.datasets.upload_sessions import SessionStore
from tator.errors import (
    DatasetImageInvalid,
    DatasetLabelClassOutOfRange,
    DatasetLabelInvalid,
    DatasetUploadIncomplete,
    DatasetUploadManifestInvalid,
    DatasetUploadSessionBusy,
    DatasetUploadSessionDatasetIdRequired,
    DatasetUploadSessionNotFound,
    InvalidRelativePath,
    LabelmapInvalid,
)
from tator.storage.files import atomic_write_text, remove_tree, save_stream
from tator.storage.layout import Layout
from tator.storage.paths import check_relative

log = logging.getLogger(__name__)

KIND = "images"
SPLITS = ("train", "val")
MAX_ROWS = 10_000
MAX_LABEL_CHARS = 1024 * 1024
MAX_CLASSES = 10_000


def _store(root: Path) -> SessionStore:
    def not_found(session_id: str) -> DatasetUploadSessionNotFound:
        return DatasetUploadSessionNotFound(f"upload session {session_id!r} not found", session_id=session_id)

    def busy(session_id: str) -> DatasetUploadSessionBusy:
        return DatasetUploadSessionBusy(f"upload session {session_id} is in use by another request",
                                        session_id=session_id)  # fmt: skip

    return SessionStore(root, KIND, not_found=not_found, busy=busy)


def _public(record: dict[str, Any]) -> dict[str, Any]:
    keys = ("session_id", "dataset_id", "dataset_type", "context", "classes", "total_images", "status")
    return {**{k: record.get(k) for k in keys}, "received": len(record.get("files", {}))}


def start_session(
    root: Path, *, dataset_id: str | None, dataset_type: str, context: str, classes: Sequence[str], total_images: int
) -> dict[str, Any]:
    """Open a session; the dataset options and the labelmap are checked now, not at the end."""
    if not dataset_id or not dataset_id.strip():
        raise DatasetUploadSessionDatasetIdRequired("dataset_id is required to start an upload session")
    check_options(UploadOptions(dataset_id=dataset_id, dataset_type=dataset_type, context=context))
    names = [str(c).strip() for c in classes]
    if not names or len(names) > MAX_CLASSES or any(not n or "\n" in n or "\r" in n for n in names):
        raise LabelmapInvalid("classes must be 1-10000 non-empty single-line names")
    fields = {"dataset_id": dataset_id.strip(), "dataset_type": dataset_type, "context": context, "classes": names,
              "total_images": total_images, "total_bytes": 0, "files": {}}  # fmt: skip
    path, record = _store(root).create(fields)
    (path / "staging").mkdir()
    atomic_write_text(path / "staging" / "labelmap.txt", labelmap_text(names))
    session_id = record["session_id"]
    log.info("image_session.opened id=%s dataset=%s images=%d", session_id, dataset_id, total_images)
    return _public(record)


def session_status(root: Path, session_id: str) -> dict[str, Any]:
    return _public(_store(root).load(session_id)[1])


def _filename(value: object) -> str:
    """A bare image file name (no folders, no `..`), checked by the path guard."""
    if not isinstance(value, str):
        raise InvalidRelativePath("filename must be a string")
    parts = check_relative(value).parts
    if len(parts) != 1 or parts[0] != value or "/" in value:
        raise InvalidRelativePath("filename must be a bare file name without folders")
    if not is_image_name(value):
        raise DatasetImageInvalid(f"{value[:200]} is not a supported image name", path=value[:200])
    return value


def _rows(manifest: str) -> list[tuple[str, str, str]]:
    try:
        parsed = json.loads(manifest)
    except (ValueError, TypeError) as exc:
        raise DatasetUploadManifestInvalid(f"manifest is not JSON: {exc}") from exc
    rows = parsed.get("rows") if isinstance(parsed, dict) else None
    if not isinstance(rows, list) or not rows or len(rows) > MAX_ROWS:
        raise DatasetUploadManifestInvalid(f"manifest needs 'rows': a list of 1-{MAX_ROWS} objects")
    found: list[tuple[str, str, str]] = []
    for row in rows:
        if not isinstance(row, dict):
            raise DatasetUploadManifestInvalid("every manifest row must be an object")
        name, split, text = _filename(row.get("filename")), row.get("split", "train"), row.get("label_text", "")
        if split not in SPLITS:
            raise DatasetUploadManifestInvalid(f"{name}: split must be one of {', '.join(SPLITS)}")
        if not isinstance(text, str) or len(text) > MAX_LABEL_CHARS:
            raise DatasetUploadManifestInvalid(f"{name}: label_text must be a string of at most 1 MiB")
        found.append((name, split, text))
    if len({r[0] for r in found}) != len(found) or len({PurePosixPath(r[0]).stem for r in found}) != len(found):
        raise DatasetUploadManifestInvalid("a batch must not name a file (or a file stem) twice")
    return found


def _check_labels(name: str, text: str, n_classes: int) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parse_label_line(line, n_classes)
        except LabelLineError as exc:
            error = DatasetLabelClassOutOfRange if exc.kind == "class_out_of_range" else DatasetLabelInvalid
            raise error(f"{name} line {number}: {exc}", path=name, line=number, reason=exc.kind) from exc


def _drop(staging: Path, name: str, entry: dict[str, Any]) -> None:
    split = entry.get("split")
    if split in SPLITS:
        (staging / split / "images" / name).unlink(missing_ok=True)
        (staging / split / "labels" / f"{PurePosixPath(name).stem}.txt").unlink(missing_ok=True)


def add_batch(
    root: Path, session_id: str, manifest: str, files: Sequence[tuple[str | None, BinaryIO]], *,
    max_bytes: int, max_pixels: int,
) -> dict[str, Any]:  # fmt: skip
    """Validate a whole batch in a scratch folder, then move it into staging (nothing of a bad batch is kept)."""
    with _store(root).locked(session_id) as (path, record):
        rows = _rows(manifest)
        uploads: dict[str, BinaryIO] = {}
        for filename, stream in files:
            uploads[_filename(filename)] = stream
        if set(uploads) != {r[0] for r in rows} or len(files) != len(rows):
            raise DatasetUploadManifestInvalid("the uploaded files must match the manifest rows one to one")
        known: dict[str, dict[str, Any]] = record.get("files", {})
        stems = {PurePosixPath(n).stem: n for n in known}
        for name, _split, _text in rows:
            other = stems.get(PurePosixPath(name).stem)
            if other is not None and other != name:
                raise DatasetUploadManifestInvalid(f"{name}: another file ({other}) already uses that stem")
        scratch = path / f"batch-{uuid.uuid4().hex}"
        scratch.mkdir()
        try:
            batch: dict[str, dict[str, Any]] = {}
            for name, split, text in rows:
                saved = save_stream(uploads[name], scratch / name, max_bytes=max_bytes)
                info = validate_image(saved.path, name, max_pixels=max_pixels)
                _check_labels(name, text, len(record["classes"]))
                atomic_write_text(scratch / f"{PurePosixPath(name).stem}.label", text)
                batch[name] = {"split": split, "width": info.width, "height": info.height, "bytes": saved.size}
            staging = path / "staging"
            for name, entry in batch.items():
                if name in known:
                    _drop(staging, name, known[name])
                images, labels = staging / entry["split"] / "images", staging / entry["split"] / "labels"
                images.mkdir(parents=True, exist_ok=True)
                labels.mkdir(parents=True, exist_ok=True)
                os.replace(scratch / name, images / name)
                os.replace(scratch / f"{PurePosixPath(name).stem}.label", labels / f"{PurePosixPath(name).stem}.txt")
                known[name] = entry
        finally:
            remove_tree(scratch)
        record = _store(root).save(path, {**record, "files": known})
    log.info("image_session.batch id=%s rows=%d received=%d", session_id, len(rows), len(known))
    return {"session_id": session_id, "received": len(known), "total_images": record["total_images"]}


def finalize_session(root: Path, session_id: str, *, layout: Layout) -> dict[str, Any]:
    """Create the dataset from the staged tree. A short session stays open (409); otherwise the session is
    consumed whether the dataset is created or refused."""
    with _store(root).locked(session_id) as (path, record):
        files: dict[str, dict[str, Any]] = record.get("files", {})
        total = int(record.get("total_images", 0))
        if len(files) < total or not files:
            raise DatasetUploadIncomplete(
                f"received {len(files)} of {total} images", received=len(files), total_images=total
            )
        try:
            staging = path / "staging"
            sizes = {f"{e['split']}/images/{n}": (int(e["width"]), int(e["height"])) for n, e in files.items()}
            options = UploadOptions(dataset_id=record["dataset_id"], dataset_type=record["dataset_type"],
                                    context=record["context"], session_id=session_id)  # fmt: skip
            return ingest_tree(
                staging, layout=layout, options=options, sizes=sizes, fingerprint=tree_fingerprint(staging),
                source_bytes=sum(int(e.get("bytes", 0)) for e in files.values()),
            )  # fmt: skip
        finally:
            remove_tree(path)
            log.info("image_session.closed id=%s", session_id)


def cancel_session(root: Path, session_id: str) -> dict[str, Any]:
    with _store(root).locked(session_id) as (path, _record):
        remove_tree(path)
    log.info("image_session.cancelled id=%s", session_id)
    return {"session_id": session_id, "status": "cancelled"}


def is_image_session(root: Path, session_id: str) -> bool:
    """True when `session_id` names a per-image session (the raw-bytes sessions share the root)."""
    return _store(root).exists(session_id)

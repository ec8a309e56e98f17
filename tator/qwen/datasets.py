"""Qwen datasets: listing, deletion and the reference's chunked upload (init, one image per chunk, finalize).

A chunked upload stages under `uploads/dataset_uploads/qwen_upload_<job>/` (`session.json` + images per
split). Each chunk is one image (bare file name, fully decoded) and its JSONL annotation line; re-sending
a name replaces it. Finalize writes `train|val/annotations.jsonl` and hands the tree to the same ingest
as every other upload (detected, validated like an extracted zip, renamed into the registry).
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from pathlib import Path
from typing import Any, BinaryIO

from tator.datasets.catalog import find_dataset
from tator.datasets.formats.model import is_image_name
from tator.datasets.formats.qwen import JSONL_NAME
from tator.datasets.imagecheck import validate_image
from tator.datasets.ingest import UploadOptions, check_options, ingest_tree
from tator.datasets.listing import list_datasets
from tator.datasets.meta import load_json_file, tree_fingerprint
from tator.datasets.trash import trash_dataset
from tator.errors import (
    DatasetNotFound,
    DatasetUploadSessionBusy,
    InvalidId,
    InvalidRelativePath,
    QwenDatasetAnnotationInvalid,
    QwenDatasetDeleteForbidden,
    QwenDatasetEmpty,
    QwenDatasetJobNotFound,
    QwenDatasetNotFound,
    QwenDatasetSplitInvalid,
)
from tator.storage.files import atomic_write_json, remove_tree, save_stream
from tator.storage.layout import Layout
from tator.storage.locks import file_lock
from tator.storage.paths import check_id, check_relative

log = logging.getLogger(__name__)

SPLITS = ("train", "val")
PREFIX = "qwen_upload_"
MAX_LINE_CHARS = 1024 * 1024
MAX_IMAGES = 100_000


def list_qwen_datasets(layout: Layout) -> list[dict[str, Any]]:
    """Every dataset that is Qwen-ready (train/ and val/ annotations.jsonl), newest first."""
    return [entry for entry in list_datasets(layout) if entry.get("qwen_ready")]


def delete_qwen_dataset(layout: Layout, dataset_id: str, *, retention_s: float) -> dict[str, Any]:
    """Delete a Qwen-ready dataset (into the datasets' trash, restorable for `retention_s`); anything else
    is `qwen_dataset_not_found`."""
    try:
        ref = find_dataset(layout, dataset_id)
    except DatasetNotFound as exc:
        raise QwenDatasetNotFound(f"no Qwen dataset {dataset_id!r}", dataset_id=dataset_id) from exc
    if not any(e["id"] == ref.id for e in list_qwen_datasets(layout)):
        raise QwenDatasetNotFound(f"dataset {ref.id} is not a Qwen dataset", dataset_id=ref.id)
    if ref.path.is_symlink():
        raise QwenDatasetDeleteForbidden(f"dataset {ref.id} is not inside a managed root", dataset_id=ref.id)
    trashed = trash_dataset(layout, ref.id, retention_s=retention_s)
    return {"status": "deleted", "id": ref.id, "trash_id": trashed["trash_id"]}


def _session_dir(layout: Layout, job_id: str) -> Path:
    try:
        check_id(job_id, what="job_id")
    except InvalidId as exc:
        raise QwenDatasetJobNotFound("unknown upload job", job_id=job_id[:64]) from exc
    path = layout.root("dataset_uploads") / f"{PREFIX}{job_id}"
    if not (path / "session.json").is_file():
        raise QwenDatasetJobNotFound(f"no Qwen upload {job_id}", job_id=job_id[:64])
    return path


def _busy(job_id: str) -> DatasetUploadSessionBusy:
    return DatasetUploadSessionBusy(f"upload {job_id} is in use by another request", session_id=job_id)


def init_upload(layout: Layout, run_name: str | None) -> dict[str, Any]:
    """Open an upload; `run_name` (optional) becomes the dataset id at finalize."""
    if run_name:
        check_options(UploadOptions(dataset_id=run_name))
    job_id = uuid.uuid4().hex
    path = layout.root("dataset_uploads") / f"{PREFIX}{job_id}"
    path.mkdir()
    atomic_write_json(path / "session.json", {"run_name": run_name, "files": {}, "created_at": time.time()})
    log.info("qwen_upload.started job=%s", job_id)
    return {"job_id": job_id}


def _image_name(value: str) -> str:
    parts = check_relative(value).parts
    if len(parts) != 1 or parts[0] != value or not is_image_name(value):
        raise InvalidRelativePath("image_name must be a bare image file name (no folders)")
    return value


def _annotation(line: str, image_name: str) -> dict[str, Any]:
    if len(line) > MAX_LINE_CHARS:
        raise QwenDatasetAnnotationInvalid("annotation_line is over 1 MiB")
    try:
        record = json.loads(line) if line.strip() else {}
    except (ValueError, RecursionError) as exc:
        raise QwenDatasetAnnotationInvalid(f"annotation_line is not JSON: {exc}") from exc
    if not isinstance(record, dict) or not isinstance(record.get("detections", []), list):
        raise QwenDatasetAnnotationInvalid("annotation_line must be an object with a 'detections' list")
    return {**record, "image": image_name}


def add_chunk(
    layout: Layout, job_id: str, split: str, image_name: str, annotation_line: str, stream: BinaryIO, *,
    max_bytes: int, max_pixels: int,
) -> dict[str, Any]:  # fmt: skip
    """Stage one image and its annotation (checked in full before anything is kept)."""
    path = _session_dir(layout, job_id)
    if split not in SPLITS:
        raise QwenDatasetSplitInvalid(f"split must be one of {', '.join(SPLITS)}", split=split[:20])
    name = _image_name(image_name)
    record_line = _annotation(annotation_line, name)
    with file_lock(path / ".lock", busy=_busy(job_id)):
        session = load_json_file(path / "session.json") or {"files": {}}
        files: dict[str, dict[str, Any]] = session.get("files", {})
        if name not in files and len(files) >= MAX_IMAGES:
            raise QwenDatasetAnnotationInvalid(f"at most {MAX_IMAGES} images per upload")
        scratch = path / f"chunk-{uuid.uuid4().hex}"
        try:
            saved = save_stream(stream, scratch, max_bytes=max_bytes)
            info = validate_image(saved.path, name, max_pixels=max_pixels)
            old = files.get(name)
            if old is not None:
                (path / "staging" / old["split"] / name).unlink(missing_ok=True)
            (path / "staging" / split).mkdir(parents=True, exist_ok=True)
            os.replace(scratch, path / "staging" / split / name)
        finally:
            scratch.unlink(missing_ok=True)
        files[name] = {"split": split, "line": record_line, "size": [info.width, info.height], "bytes": saved.size}
        atomic_write_json(path / "session.json", {**session, "files": files, "updated_at": time.time()})
    counts = {s: sum(1 for f in files.values() if f["split"] == s) for s in SPLITS}
    return {"status": "ok", "job_id": job_id, "train_count": counts["train"], "val_count": counts["val"]}


def _metadata(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise QwenDatasetAnnotationInvalid(f"metadata is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise QwenDatasetAnnotationInvalid("metadata must be a JSON object")
    return value


def finalize_upload(layout: Layout, job_id: str, metadata: str | None, run_name: str | None) -> dict[str, Any]:
    """Create the dataset; the upload is consumed whether it is created or refused."""
    path = _session_dir(layout, job_id)
    meta = _metadata(metadata)
    with file_lock(path / ".lock", busy=_busy(job_id)):
        session = load_json_file(path / "session.json") or {}
        files: dict[str, dict[str, Any]] = session.get("files", {})
        try:
            if not any(f["split"] == "train" for f in files.values()):
                raise QwenDatasetEmpty("the upload has no train images")
            staging = path / "staging"
            for split in SPLITS:
                (staging / split).mkdir(parents=True, exist_ok=True)
                lines = [json.dumps(f["line"], ensure_ascii=False) for f in files.values() if f["split"] == split]
                (staging / split / JSONL_NAME).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
            carried = {k: meta[k] for k in ("context", "labelmap_glossary") if isinstance(meta.get(k), str)}
            atomic_write_json(staging / "metadata.json", carried)
            dataset_id = run_name or session.get("run_name") or meta.get("id")
            options = UploadOptions(
                dataset_id=str(dataset_id) if dataset_id else None, label=meta.get("label") or None,
                context=str(meta.get("context") or ""), filename=f"qwen_{job_id[:8]}.zip",
            )  # fmt: skip
            sizes = {f"{f['split']}/{name}": (int(f["size"][0]), int(f["size"][1])) for name, f in files.items()}
            return ingest_tree(
                staging, layout=layout, options=options, sizes=sizes, fingerprint=tree_fingerprint(staging),
                source_bytes=sum(int(f.get("bytes", 0)) for f in files.values()),
            )  # fmt: skip
        finally:
            remove_tree(path)


def cancel_upload(layout: Layout, job_id: str) -> dict[str, Any]:
    path = _session_dir(layout, job_id)
    with file_lock(path / ".lock", busy=_busy(job_id)):
        remove_tree(path)
    return {"status": "cancelled", "job_id": job_id}

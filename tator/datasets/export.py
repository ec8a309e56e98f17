"""Dataset downloads and derived datasets: a zip streamed as it is built, and the YOLO -> Qwen build."""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tator.datasets.catalog import DatasetRef, find_dataset, id_taken
from tator.datasets.formats.qwen import write_qwen
from tator.datasets.meta import DERIVED_DIR, load_json_file, signature, write_meta
from tator.datasets.views import load_annotations, yolo_view
from tator.datasets.zipstream import stream_zip
from tator.errors import DatasetExportFailed, DatasetNotYoloReady, DatasetUploadTargetInvalid, LabelmapMissing
from tator.storage.files import remove_tree
from tator.storage.layout import Layout

log = logging.getLogger(__name__)


def _files(root: Path) -> Iterator[Path]:
    """Regular files under `root`, hidden names (the derived area, locks) and symlinks skipped."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(folder, d)))
        for name in sorted(files):
            path = Path(folder, name)
            if not name.startswith(".") and path.is_file() and not path.is_symlink():
                yield path


def export_zip(layout: Layout, dataset_id: str) -> tuple[str, Iterator[bytes]]:
    """(file name, byte chunks) of a zip of the dataset folder, arcnames prefixed by the folder name.
    Memory stays at about one chunk: the archive is produced as it is sent."""
    ref = find_dataset(layout, dataset_id)
    if not ref.path.is_dir():
        raise DatasetExportFailed(f"dataset {ref.id} has no folder", dataset_id=ref.id)
    return f"{ref.id}.zip", stream_zip(_entries(ref))


def _entries(ref: DatasetRef) -> Iterator[tuple[Path, str]]:
    started, count = time.perf_counter(), 0
    for path in _files(ref.path):
        count += 1
        yield path, f"{ref.id}/{path.relative_to(ref.path).as_posix()}"
    log.info("dataset.exported id=%s files=%d secs=%.2f", ref.id, count, time.perf_counter() - started)


def _claim(layout: Layout, root: Path, base: str) -> tuple[str, Path]:
    for counter in range(1, 10_000):
        candidate = f"{base[:100]}_qwen" if counter == 1 else f"{base[:100]}_qwen_{counter}"
        if not id_taken(layout, candidate):
            with contextlib.suppress(FileExistsError):
                (root / candidate).mkdir()
                return candidate, root / candidate
    raise DatasetUploadTargetInvalid(f"no free dataset id for {base!r}")


def build_qwen(layout: Layout, dataset_id: str) -> dict[str, Any]:
    """Convert a YOLO-ready dataset into a new Qwen dataset (its own id, under the Qwen datasets root).
    Images without any box are skipped; images are hard-linked, not copied."""
    ref = find_dataset(layout, dataset_id)
    view = yolo_view(ref)
    if view is None:
        raise DatasetNotYoloReady(f"dataset {ref.id} is not YOLO-ready", dataset_id=ref.id)
    if not view.labelmap.is_file() or not view.layout().classes:
        raise LabelmapMissing(f"dataset {ref.id} has no labelmap", dataset_id=ref.id)
    ann = load_annotations(ref)
    context = str(ref.meta.get("context") or "")
    work = layout.root("dataset_uploads") / f"staging-{uuid.uuid4().hex}"
    root = layout.root("qwen_datasets")
    claimed: Path | None = None
    created_at = time.time()
    try:
        counts = write_qwen(ann, work / "data", context=context)
        new_id, claimed = _claim(layout, root, ref.id)
        glossary = (load_json_file(ref.path / "dataset.json") or {}).get("labelmap_glossary")
        meta = {
            "id": new_id, "label": f"{ref.meta.get('label') or ref.id} (qwen)", "classes": list(ann.classes),
            "context": context, "created_at": created_at, "train_count": counts.get("train", 0),
            "val_count": counts.get("val", 0), "image_count": sum(counts.values()),
            "type": "seg" if ann.has_polygons else "bbox", "source": "qwen", "format": "qwen",
            "signature": signature([(f"qwen:{ref.meta.get('signature') or ref.id}:{new_id}", len(ann.images), 0)]),
            "source_dataset": ref.id,
        }  # fmt: skip
        if isinstance(glossary, str) and glossary:
            meta["labelmap_glossary"] = glossary
        write_meta(work / "data" / "metadata.json", meta)
        legacy = {"context": context, "classes": list(ann.classes), "created_at": int(created_at * 1000)}
        write_meta(work / "data" / "dataset_meta.json", legacy)
        (work / "data" / DERIVED_DIR).mkdir(exist_ok=True)
        os.replace(work / "data", claimed)
        claimed = None
    finally:
        if claimed is not None:
            with contextlib.suppress(OSError):
                claimed.rmdir()
        remove_tree(work)
    log.info("dataset.qwen_built source=%s id=%s images=%d", ref.id, new_id, meta["image_count"])
    return meta

"""Dataset downloads and derived datasets: a zip streamed as it is built, and the YOLO -> Qwen build."""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tator.datasets.catalog import find_dataset
from tator.datasets.formats.qwen import write_qwen
from tator.datasets.install import dataset_access, install
from tator.datasets.meta import DERIVED_DIR, load_json_file, signature, write_meta
from tator.datasets.views import load_annotations, yolo_view
from tator.datasets.zipstream import stream_zip
from tator.errors import DatasetExportFailed, DatasetNotYoloReady, LabelmapMissing
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
    Memory stays at about one chunk: the archive is produced as it is sent. The file list is taken while
    the dataset cannot move; a file that vanishes later (a delete racing the download) fails the stream,
    so a client never mistakes a cut archive for a whole one."""
    with dataset_access(layout, dataset_id) as ref:
        files = [(path, f"{ref.id}/{path.relative_to(ref.path).as_posix()}") for path in _files(ref.path)]
    return f"{ref.id}.zip", _logged(ref.id, stream_zip(_present(ref.id, files)))


def _present(dataset_id: str, files: list[tuple[Path, str]]) -> Iterator[tuple[Path, str]]:
    for path, arcname in files:
        if not path.is_file():
            raise DatasetExportFailed(f"dataset {dataset_id} changed during the download", dataset_id=dataset_id)
        yield path, arcname


def _logged(dataset_id: str, chunks: Iterator[bytes]) -> Iterator[bytes]:
    started = time.perf_counter()
    yield from chunks
    log.info("dataset.exported id=%s secs=%.2f", dataset_id, time.perf_counter() - started)


def _qwen_ids(base: str) -> Iterator[str]:
    yield f"{base[:100]}_qwen"
    yield from (f"{base[:100]}_qwen_{counter}" for counter in range(2, 10_000))


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
    created_at = time.time()
    glossary = (load_json_file(ref.path / "dataset.json") or {}).get("labelmap_glossary")
    try:
        counts = write_qwen(ann, work / "data", context=context)
        legacy = {"context": context, "classes": list(ann.classes), "created_at": int(created_at * 1000)}
        write_meta(work / "data" / "dataset_meta.json", legacy)
        (work / "data" / DERIVED_DIR).mkdir(exist_ok=True)

        def meta_for(new_id: str) -> dict[str, Any]:
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
            return meta

        root = layout.root("qwen_datasets")
        meta, _ = install(layout, root, work / "data", _qwen_ids(ref.id), meta_for, meta_name="metadata.json")
    finally:
        remove_tree(work)
    new_id = meta["id"]
    log.info("dataset.qwen_built source=%s id=%s images=%d", ref.id, new_id, meta["image_count"])
    return meta

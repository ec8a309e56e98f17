"""SAM3 training data: a registered dataset converted to COCO (train + val) under `sam3_runs/splits/<id>/`.

Any dataset the registry can read (YOLO, YOLO-seg, COCO, Qwen) converts; the source dataset is never
written. When it has no val split, one is drawn from train (deterministic for a seed). The conversion is
built in a staging directory and renamed into place, so a failed one leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from tator.datasets.catalog import DatasetRef, find_dataset, iter_datasets
from tator.datasets.formats.coco import write_coco
from tator.datasets.formats.model import DatasetAnnotations
from tator.datasets.views import load_annotations
from tator.errors import (
    DatasetNotFound,
    DatasetNotYoloReady,
    LabelmapMissing,
    Sam3DatasetNotFound,
    Sam3DatasetTypeUnsupported,
    Sam3TrainingNoImages,
)
from tator.storage.files import atomic_write_json, remove_tree
from tator.storage.layout import Layout

META_NAME = "sam3_dataset.json"
SPLITS_ROOT = "splits"  # under sam3_runs: the conversion cache (`/sam3/train/cache_size`, `/cache/purge`)


def dataset_ref(layout: Layout, dataset_id: str) -> DatasetRef:
    try:
        return find_dataset(layout, dataset_id)
    except DatasetNotFound as exc:
        raise Sam3DatasetNotFound(f"no dataset {dataset_id!r}", dataset_id=dataset_id[:128]) from exc


def read_annotations(ref: DatasetRef) -> DatasetAnnotations:
    try:
        return load_annotations(ref)
    except (DatasetNotYoloReady, LabelmapMissing) as exc:
        raise Sam3DatasetTypeUnsupported(f"dataset {ref.id} has no readable annotations: {exc.message}") from exc


def with_val_split(ann: DatasetAnnotations, *, val_percent: float = 0.2, seed: int = 42) -> DatasetAnnotations:
    """`ann` with train/val splits only (test folds into val); a missing val split is drawn from train."""
    images = [replace(i, split="val") if i.split == "test" else i for i in ann.images]
    if any(i.split == "val" for i in images):
        return replace(ann, images=tuple(images))
    train = [i for i in images if i.split == "train"]
    if len(train) < 2:
        raise Sam3TrainingNoImages("at least 2 training images are needed to hold some out for validation")
    order = list(range(len(train)))
    random.Random(seed).shuffle(order)
    held = set(order[: max(1, round(len(train) * val_percent))])
    images = [replace(img, split="val") if n in held else img for n, img in enumerate(train)]
    return replace(ann, images=tuple(images))


def splits_root(layout: Layout) -> Path:
    path = layout.root("sam3_runs") / SPLITS_ROOT
    path.mkdir(parents=True, exist_ok=True)
    return path


def convert(layout: Layout, dataset_id: str) -> dict[str, Any]:
    """Convert (or reuse the current conversion of) a dataset to COCO train/val; returns its metadata."""
    ref = dataset_ref(layout, dataset_id)
    dest = splits_root(layout) / ref.id
    existing = read_meta(dest)
    if existing is not None and existing.get("signature") == ref.meta.get("signature"):
        return existing
    ann = with_val_split(read_annotations(ref))
    if not ann.images:
        raise Sam3TrainingNoImages(f"dataset {ref.id} has no images")
    staging = dest.with_name(f".{dest.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        files = write_coco(ann, staging)
        counts = {s: len(ann.split(s)) for s in ann.splits}
        meta = {
            "id": ref.id, "label": ref.meta.get("label") or ref.id, "source": ref.source,
            "type": "seg" if ann.has_polygons else "bbox", "dataset_root": str(ref.path),
            "signature": ref.meta.get("signature"), "classes": list(ann.classes),
            "context": ref.meta.get("context") or "", "counts": counts,
            "coco_train_json": str(dest / files["train"].relative_to(staging)),
            "coco_val_json": str(dest / files["val"].relative_to(staging)), "converted_at": time.time(),
        }  # fmt: skip
        atomic_write_json(staging / META_NAME, meta)
        remove_tree(dest)
        os.replace(staging, dest)
    finally:
        remove_tree(staging)
    return meta


def read_meta(dest: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((dest / META_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def list_sam3_datasets(layout: Layout) -> list[dict[str, Any]]:
    """Every registered dataset with its classes and, when converted, its SAM3 COCO files."""
    root = splits_root(layout)
    entries = []
    for ref in iter_datasets(layout):
        converted = read_meta(root / ref.id)
        fresh = converted is not None and converted.get("signature") == ref.meta.get("signature")
        classes = ref.meta.get("classes") if isinstance(ref.meta.get("classes"), list) else []
        entries.append({
            "id": ref.id, "label": ref.meta.get("label") or ref.id, "source": ref.source,
            "type": ref.meta.get("type") or "bbox", "classes": classes, "converted": fresh,
            "sam3": converted if fresh else None,
        })  # fmt: skip
    return entries


def dataset_classes(layout: Layout, dataset_id: str) -> dict[str, Any]:
    ref = dataset_ref(layout, dataset_id)
    classes = list(read_annotations(ref).classes)
    return {"id": ref.id, "classes": classes, "class_ids": list(range(len(classes)))}


def cache_bytes(layout: Layout) -> int:
    return sum(p.stat().st_size for p in splits_root(layout).rglob("*") if p.is_file() and not p.is_symlink())


def purge_cache(layout: Layout) -> int:
    """Delete every conversion; returns the bytes freed (hard-linked images free only their links)."""
    freed = cache_bytes(layout)
    root = splits_root(layout)
    for child in root.iterdir():
        remove_tree(child)
    return freed

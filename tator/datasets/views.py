"""Views of a dataset in each format, for every consumer (training, SAM3, RF-DETR, segmentation).

The uploaded source is never modified. A view in another format is written under
`<dataset>/.derived/<name>/` (or wherever a job asks, e.g. its run dir) with images hard-linked, and is
tagged with the source signature so a stale one is rebuilt. Reading a view never writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tator.datasets.catalog import DatasetRef
from tator.datasets.formats.coco import COCO_NAME, read_coco, write_coco
from tator.datasets.formats.model import DatasetAnnotations
from tator.datasets.formats.qwen import JSONL_NAME, read_qwen, write_qwen
from tator.datasets.formats.yolo import YoloLayout, YoloSplit, read_yolo, write_yolo
from tator.datasets.labels import read_labelmap
from tator.datasets.meta import DERIVED_DIR, load_json_file
from tator.errors import DatasetNotYoloReady, LabelmapMissing
from tator.storage.files import atomic_write_json, remove_tree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class YoloView:
    """Absolute paths of a dataset's YOLO form: labelmap, and (images, labels) folders per split."""

    root: Path
    labelmap: Path
    splits: dict[str, tuple[Path, Path]]
    flat: bool

    def layout(self) -> YoloLayout:
        classes = tuple(read_labelmap(self.labelmap))
        rel = {s: YoloSplit(i.relative_to(self.root).as_posix(), lab.relative_to(self.root).as_posix())
               for s, (i, lab) in self.splits.items()}  # fmt: skip
        return YoloLayout(self.labelmap.relative_to(self.root).as_posix(), classes, rel, self.flat)


def yolo_layout_record(root: str, layout: YoloLayout) -> dict[str, Any]:
    """How a YOLO view is recorded in dataset.json (paths relative to the dataset folder)."""
    return {
        "root": root, "labelmap": layout.labelmap, "flat": layout.flat,
        "splits": {s: {"images": v.images, "labels": v.labels} for s, v in layout.splits.items() if v.labels},
    }  # fmt: skip


def _from_record(ref: DatasetRef, record: Mapping[str, Any]) -> YoloView | None:
    try:
        root = ref.guard.relative(str(record.get("root") or ".")) if record.get("root") not in (None, ".") else ref.path
        labelmap = root / str(record["labelmap"])
        splits = {str(s): (root / str(v["images"]), root / str(v["labels"])) for s, v in dict(record["splits"]).items()}
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    paths = [labelmap, *(p for pair in splits.values() for p in pair)]
    if not splits or not all(ref.guard.contains(p) and p.exists() for p in paths):
        return None
    return YoloView(root, labelmap, splits, bool(record.get("flat")))


def yolo_view(ref: DatasetRef) -> YoloView | None:
    """The YOLO form of a dataset (source or derived), or None. Without a record in the metadata the
    reference's rule applies: labelmap.txt + train/images|labels (or images|labels at the root)."""
    record = (ref.meta.get("views") or {}).get("yolo")
    if isinstance(record, dict):
        return _from_record(ref, record)
    root = ref.path
    if not (root / "labelmap.txt").is_file():
        return None
    if (root / "train/images").is_dir() and (root / "train/labels").is_dir():
        splits = {s: (root / s / "images", root / s / "labels") for s in ("train", "val", "test")
                  if (root / s / "images").is_dir() and (root / s / "labels").is_dir()}  # fmt: skip
        return YoloView(root, root / "labelmap.txt", splits, False)
    if (root / "images").is_dir() and (root / "labels").is_dir():
        return YoloView(root, root / "labelmap.txt", {"train": (root / "images", root / "labels")}, True)
    return None


def qwen_files(ref: DatasetRef) -> dict[str, Path]:
    """Split -> annotations.jsonl when the dataset is Qwen-ready (train and val both present)."""
    files = {s: ref.path / s / JSONL_NAME for s in ("train", "val")}
    return files if all(p.is_file() for p in files.values()) else {}


def coco_files(ref: DatasetRef, *, name: str = "coco") -> dict[str, Path]:
    """Split -> COCO json: the uploaded files for a COCO source, else a derived view if built."""
    record = (ref.meta.get("views") or {}).get("coco") if name == "coco" else None
    if isinstance(record, dict) and isinstance(record.get("files"), dict):
        with contextlib.suppress(ValueError, TypeError):
            files = {str(s): ref.guard.relative(str(p)) for s, p in record["files"].items()}
            if all(p.is_file() for p in files.values()):
                return files
    view = ref.path / DERIVED_DIR / name
    tag = load_json_file(view / "view.json")
    if tag is None or tag.get("signature") != ref.meta.get("signature"):
        return {}
    return {s: view / d / COCO_NAME for s, d in dict(tag.get("splits", {})).items() if (view / d / COCO_NAME).is_file()}


def load_annotations(ref: DatasetRef) -> DatasetAnnotations:
    """The dataset's annotations from its YOLO form, else its Qwen form; DatasetNotYoloReady otherwise."""
    view = yolo_view(ref)
    if view is not None:
        layout = view.layout()
        if not layout.classes:
            raise LabelmapMissing(f"dataset {ref.id} has an empty labelmap", dataset_id=ref.id)
        return read_yolo(view.root, layout)
    files = qwen_files(ref)
    if files:
        classes = read_labelmap(ref.path / "labelmap.txt") if (ref.path / "labelmap.txt").is_file() else []
        return read_qwen(ref.path, files, classes)
    raise DatasetNotYoloReady(f"dataset {ref.id} has no YOLO or Qwen annotations", dataset_id=ref.id)


def export_view(ann: DatasetAnnotations, fmt: str, dest: Path, **options: Any) -> Any:
    """Write `ann` as `fmt` (yolo | coco | qwen) under `dest`, e.g. a job's run dir."""
    if fmt == "yolo":
        return write_yolo(ann, dest)
    if fmt == "coco":
        return write_coco(ann, dest, **options)
    if fmt == "qwen":
        return write_qwen(ann, dest, **options)
    raise ValueError(f"unknown format {fmt!r}")


def ensure_coco_view(
    ref: DatasetRef, *, zero_based: bool = False, split_dirs: Mapping[str, str] | None = None
) -> dict[str, Path]:
    """COCO json per split for the dataset, building `.derived/coco[...]` from the YOLO form if needed."""
    name = "coco" + ("-0" if zero_based else "") + "".join(f"-{k}{v}" for k, v in sorted((split_dirs or {}).items()))
    if name == "coco" and ref.meta.get("source_format") == "coco":
        existing = coco_files(ref)
        if existing:
            return existing
    built = coco_files(ref, name=name)
    if built:
        return built
    ann = load_annotations(ref)
    derived = ref.path / DERIVED_DIR
    staging = derived / f".tmp-{uuid.uuid4().hex}"
    try:
        files = write_coco(ann, staging, zero_based=zero_based, split_dirs=split_dirs)
        splits = {s: p.parent.name for s, p in files.items()}
        atomic_write_json(staging / "view.json", {"signature": ref.meta.get("signature"), "splits": splits})
        target = derived / name
        remove_tree(target)
        with contextlib.suppress(OSError):  # a concurrent builder may have won; its view is as good
            os.replace(staging, target)
    finally:
        remove_tree(staging)
    log.info("dataset.view_built id=%s view=%s images=%d", ref.id, name, len(ann.images))
    return coco_files(ref, name=name)


def read_view_coco(ref: DatasetRef) -> DatasetAnnotations:
    """Annotations read back from the dataset's COCO form (used by round-trip checks)."""
    files = ensure_coco_view(ref)
    return read_coco(ref.path, files)

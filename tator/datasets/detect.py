"""Recognise an extracted dataset tree (Qwen JSONL, COCO, YOLO, or plain images) and read it strictly."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tator.datasets.formats.coco import find_coco_files, read_coco
from tator.datasets.formats.model import DatasetAnnotations, ImageAnnotation, canonical_split, is_image_name
from tator.datasets.formats.qwen import find_jsonl_files, read_qwen
from tator.datasets.formats.yolo import YoloLayout, detect_layout, read_yolo
from tator.datasets.labels import LABELMAP_NAMES, read_labelmap
from tator.errors import DatasetFormatUnrecognized, DatasetImageInvalid, LabelmapMissing

Sizes = Mapping[str, tuple[int, int]]


@dataclass(frozen=True)
class Detected:
    source_format: str  # yolo | coco | qwen | images
    annotations: DatasetAnnotations
    yolo: YoloLayout | None = None
    files: dict[str, str] = field(default_factory=dict)  # split -> annotation file (coco / qwen), relative


def _qwen_classes(root: Path) -> tuple[str, ...]:
    for name in LABELMAP_NAMES:
        if (root / name).is_file():
            return tuple(read_labelmap(root / name))
    meta = root / "metadata.json"
    if meta.is_file() and meta.stat().st_size < 16 * 1024 * 1024:
        try:
            classes = json.loads(meta.read_bytes()).get("classes")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, RecursionError):
            classes = None
        if isinstance(classes, list) and classes and all(isinstance(c, str) and c.strip() for c in classes):
            return tuple(c.strip() for c in classes)
    return ()


# The layouts an upload may use (the API guide shows each as a tree).
ACCEPTED_LAYOUTS = (
    "yolo_split: labelmap.txt + train/images, train/labels (and val/, test/)",
    "yolo_images_split: labelmap.txt + images/train, labels/train (and val, test)",
    "yolo_flat: labelmap.txt + images/, labels/",
    "coco: <split>/_annotations.coco.json next to the split's images",
    "qwen: <split>/annotations.jsonl next to the split's images",
    "images_only: images/ or <split>/images/ without labels (nothing annotated yet)",
)


def _relative(files: Mapping[str, Path], root: Path) -> dict[str, str]:
    return {split: path.relative_to(root).as_posix() for split, path in files.items()}


def _images_only(root: Path, sizes: Sizes, layout: YoloLayout | None) -> DatasetAnnotations:
    classes = layout.classes if layout is not None else ()
    images: list[ImageAnnotation] = []
    for key in sorted(sizes):
        parts = key.split("/")
        split = canonical_split(parts[0]) if len(parts) > 1 else None
        if split is None and len(parts) > 2 and parts[0] == "images":
            split = canonical_split(parts[1])
        images.append(ImageAnnotation(split or "train", key, *sizes[key]))
    return DatasetAnnotations(root, classes, tuple(images))


def detect_dataset(root: Path, sizes: Sizes) -> Detected:
    """What `root` holds, read and validated; `sizes` are the decoded image sizes (rel path -> w, h)."""
    qwen_files = find_jsonl_files(root)
    if qwen_files:
        ann = read_qwen(root, qwen_files, _qwen_classes(root), sizes=sizes)
        return Detected("qwen", ann, files=_relative(qwen_files, root))
    coco_files = find_coco_files(root)
    if coco_files:
        return Detected("coco", read_coco(root, coco_files, sizes=sizes), files=_relative(coco_files, root))
    layout = detect_layout(root)
    has_labels = layout is not None and any(s.labels for s in layout.splits.values())
    if layout is not None and has_labels:
        if not layout.classes:
            raise LabelmapMissing("YOLO labels need a labelmap.txt (or classes.txt / data.yaml names)")
        return Detected("yolo", read_yolo(root, layout, sizes=sizes), yolo=layout)
    if sizes and layout is not None:
        return Detected("images", _images_only(root, sizes, layout))
    found = "images in no recognised folder" if sizes else "no images"
    raise DatasetFormatUnrecognized(
        f"the zip holds {found}; arrange it as one of the accepted layouts: " + "; ".join(ACCEPTED_LAYOUTS),
        accepted_layouts=list(ACCEPTED_LAYOUTS),
    )


def check_images_decoded(ann: DatasetAnnotations, sizes: Sizes) -> None:
    """Every image an annotation file names must be one of the decoded (validated) images."""
    for image in ann.images:
        if image.path not in sizes or not is_image_name(image.path):
            raise DatasetImageInvalid(f"{image.path[:200]} is not a supported image", path=image.path[:200])

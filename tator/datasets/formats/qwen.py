"""The Qwen JSONL layout: `train/` and `val/` hold the images and `annotations.jsonl`, one object a line:
`{"image": name, "context": "...", "detections": [{"label", "bbox": [x1, y1, x2, y2] px, "point": [cx, cy] px}]}`.

Detections may also carry `"polygon": [x1, y1, ...]` (pixels), which the reference lacks; it keeps
YOLO-seg polygons lossless through this format. Box coordinates are written unrounded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tator.annotations import BBox
from tator.datasets.formats.model import (
    DatasetAnnotations,
    ImageAnnotation,
    ObjectAnnotation,
    canonical_split,
    image_size,
    is_image_name,
    place_file,
    unique_name,
)
from tator.datasets.labels import index_by_label, labelmap_text, normalise_label
from tator.errors import DatasetAnnotationsInvalid, DatasetLabelClassOutOfRange, DatasetLabelInvalid

JSONL_NAME = "annotations.jsonl"
MAX_LINE_CHARS = 16 * 1024 * 1024
PIXEL_TOLERANCE = 1.0


def find_jsonl_files(root: Path) -> dict[str, Path]:
    """Split -> `annotations.jsonl` for the split folders that have one."""
    found: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        split = canonical_split(child.name)
        if split and split not in found and (child / JSONL_NAME).is_file():
            found[split] = child / JSONL_NAME
    return found


def _records(path: Path, root: Path) -> list[tuple[int, dict[str, Any]]]:
    rel = path.relative_to(root).as_posix()
    records: list[tuple[int, dict[str, Any]]] = []
    with open(path, encoding="utf-8", errors="strict") as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                if len(line) > MAX_LINE_CHARS:
                    raise DatasetAnnotationsInvalid(f"{rel} line {number} is too long", path=rel, line=number)
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    raise DatasetAnnotationsInvalid(f"{rel} line {number}: {exc}", path=rel, line=number) from exc
                if not isinstance(record, dict) or not isinstance(record.get("image"), str):
                    raise DatasetAnnotationsInvalid(
                        f"{rel} line {number}: needs an 'image' name", path=rel, line=number
                    )
                records.append((number, record))
        except UnicodeDecodeError as exc:
            raise DatasetAnnotationsInvalid(f"{rel} is not UTF-8", path=rel) from exc
    return records


def _class_id(label: Any, classes: list[str], index: dict[str, int], fixed: bool, where: str) -> int:
    if not isinstance(label, str) or not label.strip():
        raise DatasetLabelInvalid(f"{where}: detection label must be a non-empty string", reason="malformed")
    key = normalise_label(label)
    if key not in index:
        if fixed:
            raise DatasetLabelClassOutOfRange(f"{where}: label {label[:80]!r} is not in the labelmap")
        index[key] = len(classes)
        classes.append(label.strip())
    return index[key]


def _object(det: Any, class_id: int, width: int, height: int, where: str) -> ObjectAnnotation:
    bbox = det.get("bbox") if isinstance(det, dict) else None
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
        raise DatasetLabelInvalid(f"{where}: bbox must be [x1, y1, x2, y2]", reason="malformed")
    x1, y1, x2, y2 = (float(v) for v in bbox)
    tol = PIXEL_TOLERANCE
    if not all(math.isfinite(v) for v in bbox) or x2 <= x1 or y2 <= y1:
        raise DatasetLabelInvalid(f"{where}: bbox is empty or not finite", reason="malformed")
    if x1 < -tol or y1 < -tol or x2 > width + tol or y2 > height + tol:
        raise DatasetLabelInvalid(f"{where}: bbox lies outside the {width}x{height} image", reason="out_of_range")
    polygon = det.get("polygon")
    poly: tuple[float, ...] | None = None
    if isinstance(polygon, list) and len(polygon) >= 6 and len(polygon) % 2 == 0:
        if all(isinstance(v, int | float) and math.isfinite(v) for v in polygon):
            poly = tuple(float(v) for v in polygon)
    return ObjectAnnotation(class_id, BBox(x1, y1, x2, y2), poly)


def read_qwen(
    root: Path,
    files: Mapping[str, Path],
    classes: Sequence[str] = (),
    *,
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> DatasetAnnotations:
    """Images and objects of every split. With `classes` every label must be one of them (matched
    normalised); without, classes are collected in order of first appearance."""
    names, fixed = list(classes), bool(classes)
    index = index_by_label(names)
    images: list[ImageAnnotation] = []
    for split, path in files.items():
        for number, record in _records(path, root):
            where = f"{path.relative_to(root).as_posix()} line {number}"
            image_name = PurePosixPath(record["image"].replace("\\", "/")).name
            image = path.parent / image_name
            if not image_name or not is_image_name(image_name) or not image.is_file():
                raise DatasetAnnotationsInvalid(f"{where}: image {record['image'][:200]!r} is missing", line=number)
            rel = image.relative_to(root).as_posix()
            width, height = sizes[rel] if sizes and rel in sizes else image_size(image)
            detections = record.get("detections") or []
            if not isinstance(detections, list):
                raise DatasetAnnotationsInvalid(f"{where}: 'detections' must be a list", line=number)
            objects = tuple(
                _object(det, _class_id(det.get("label") if isinstance(det, dict) else None, names, index, fixed, where),
                        width, height, where)
                for det in detections
            )  # fmt: skip
            images.append(ImageAnnotation(split, rel, width, height, objects))
    return DatasetAnnotations(root, tuple(names), tuple(images))


def context_line(context: str, classes: Sequence[str]) -> str:
    """The per-image prompt context: the dataset context, then the classes of interest."""
    objects = f"Objects of interest: {', '.join(classes)}."
    return f"{context.strip()}\n{objects}" if context.strip() else objects


def qwen_record(image: ImageAnnotation, name: str, classes: Sequence[str], context: str) -> dict[str, Any]:
    detections: list[dict[str, Any]] = []
    for obj in image.objects:
        b = obj.box
        centre = [(b.x1 + b.x2) / 2, (b.y1 + b.y2) / 2]
        det: dict[str, Any] = {"label": classes[obj.class_id], "bbox": [b.x1, b.y1, b.x2, b.y2], "point": centre}
        if obj.polygon:
            det["polygon"] = list(obj.polygon)
        detections.append(det)
    return {"image": name, "context": context_line(context, classes), "detections": detections}


def write_qwen(
    ann: DatasetAnnotations,
    dest: Path,
    *,
    context: str = "",
    skip_empty: bool = True,
    splits: Sequence[str] = ("train", "val"),
) -> dict[str, int]:
    """Write `<dest>/<split>/` images (hard-linked) + annotations.jsonl and `labelmap.txt`; images
    without objects are skipped unless `skip_empty` is False. Returns the image count per split."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "labelmap.txt").write_text(labelmap_text(ann.classes), encoding="utf-8")
    counts: dict[str, int] = {}
    for split in dict.fromkeys([*splits, *ann.splits]):
        split_dir = dest / split
        split_dir.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        with open(split_dir / JSONL_NAME, "w", encoding="utf-8") as handle:
            for image in ann.split(split):
                if skip_empty and not image.objects:
                    continue
                name = unique_name(image.name, taken)
                place_file(ann.root / image.path, split_dir / name)
                handle.write(json.dumps(qwen_record(image, name, ann.classes, context), ensure_ascii=False) + "\n")
        counts[split] = len(taken)
    return counts

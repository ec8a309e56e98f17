"""COCO detection JSON (Roboflow style: `<split>/_annotations.coco.json` with the images beside it).

Reading: the labelmap is the category names sorted by category id, remapped to contiguous class ids
(a Roboflow placeholder category, the supercategory of the others with no annotations, is dropped);
boxes `[x, y, w, h]` with w or h <= 0 are dropped; the first polygon of >= 3 points is kept.
Writing: category ids 1..N from labelmap order (0..N-1 with `zero_based`, for RF-DETR).
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
    place_file,
    unique_name,
)
from tator.errors import DatasetAnnotationsInvalid
from tator.storage.files import atomic_write_json
from tator.storage.paths import PathGuard
from tator.vision.boxes import xywh_to_xyxy, xyxy_to_xywh

COCO_NAME = "_annotations.coco.json"
MAX_COCO_BYTES = 2 * 1024**3
JsonDict = dict[str, Any]


def find_coco_files(root: Path) -> dict[str, Path]:
    """Split -> annotation file: `<split>/_annotations.coco.json`, else the shallowest one (as train)."""
    found: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        split = canonical_split(child.name)
        if split and split not in found and (child / COCO_NAME).is_file():
            found[split] = child / COCO_NAME
    if not found:
        candidates = sorted(root.rglob(COCO_NAME), key=lambda p: (len(p.relative_to(root).parts), str(p)))
        candidates = [p for p in candidates if not any(s.startswith(".") for s in p.relative_to(root).parts)]
        if candidates:
            found["train"] = candidates[0]
    return found


def _invalid(path: Path, root: Path, message: str) -> DatasetAnnotationsInvalid:
    rel = path.relative_to(root).as_posix()
    return DatasetAnnotationsInvalid(f"{rel}: {message}", path=rel)


def _load(path: Path, root: Path) -> JsonDict:
    if path.stat().st_size > MAX_COCO_BYTES:
        raise _invalid(path, root, f"over {MAX_COCO_BYTES} bytes")
    try:
        data = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid(path, root, f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise _invalid(path, root, "expected an object with an 'images' list")
    for key in ("annotations", "categories"):
        if not isinstance(data.get(key, []), list) or not all(isinstance(x, dict) for x in data.get(key, [])):
            raise _invalid(path, root, f"'{key}' must be a list of objects")
    if not all(isinstance(x, dict) for x in data["images"]):
        raise _invalid(path, root, "'images' must be a list of objects")
    return data


def _categories(files: Mapping[str, tuple[Path, JsonDict]], root: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    used: set[int] = set()
    parents: set[str] = set()
    for path, data in files.values():
        for cat in data.get("categories", []):
            cat_id, name = cat.get("id"), cat.get("name")
            if not isinstance(cat_id, int) or isinstance(cat_id, bool):
                raise _invalid(path, root, f"category id {cat_id!r} is not an integer")
            name = str(name).strip() if name is not None and str(name).strip() else f"class_{cat_id}"
            if names.setdefault(cat_id, name) != name:
                raise _invalid(path, root, f"category {cat_id} is named both {names[cat_id]!r} and {name!r}")
            if isinstance(cat.get("supercategory"), str):
                parents.add(cat["supercategory"])
        used.update(a.get("category_id") for a in data.get("annotations", []) if _is_id(a.get("category_id")))
    placeholders = {cid for cid, name in names.items() if name in parents and cid not in used and len(names) > 1}
    return {cid: name for cid, name in names.items() if cid not in placeholders}


def _is_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def _image_path(root: Path, json_dir: Path, file_name: Any) -> Path | None:
    if not isinstance(file_name, str) or not file_name or "\x00" in file_name:
        return None
    rel = PurePosixPath(file_name.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or (rel.parts and rel.parts[0].endswith(":")):
        rel = PurePosixPath(rel.name)  # escapes are reduced to the base name, never followed
    guard = PathGuard(root)
    for candidate in (json_dir / rel, json_dir / "images" / rel, json_dir / rel.name, json_dir / "images" / rel.name):
        if candidate.is_file() and guard.contains(candidate):
            return candidate
    return None


def _polygon(segmentation: Any, width: int, height: int) -> tuple[float, ...] | None:
    if not isinstance(segmentation, list):
        return None  # RLE (crowd) masks keep only their box
    for poly in segmentation:
        if isinstance(poly, list) and len(poly) >= 6 and len(poly) % 2 == 0:
            if all(isinstance(v, int | float) and math.isfinite(v) for v in poly):
                limits = (width, height)
                return tuple(min(max(float(v), 0.0), float(limits[i % 2])) for i, v in enumerate(poly))
    return None


def _objects(
    data: JsonDict, path: Path, root: Path, class_of: Mapping[int, int], sizes: Mapping[Any, tuple[int, int]]
) -> dict[Any, list[ObjectAnnotation]]:
    per_image: dict[Any, list[ObjectAnnotation]] = {}
    for index, ann in enumerate(data.get("annotations", [])):
        image_id, cat_id, bbox = ann.get("image_id"), ann.get("category_id"), ann.get("bbox")
        if not _is_id(image_id) or image_id not in sizes:
            raise _invalid(path, root, f"annotation {index} names unknown image_id {image_id!r}")
        if not _is_id(cat_id) or cat_id not in class_of:
            raise _invalid(path, root, f"annotation {index} names unknown category_id {cat_id!r}")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int | float) for v in bbox)):
            raise _invalid(path, root, f"annotation {index} bbox must be 4 numbers")
        x, y, w, h = (float(v) for v in bbox)
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
            continue
        width, height = sizes[image_id]
        polygon = _polygon(ann.get("segmentation"), width, height)
        box = BBox(*(float(v) for v in xywh_to_xyxy((x, y, w, h))[0]))
        per_image.setdefault(image_id, []).append(ObjectAnnotation(class_of[cat_id], box, polygon))
    return per_image


def read_coco(
    root: Path, files: Mapping[str, Path], *, sizes: Mapping[str, tuple[int, int]] | None = None
) -> DatasetAnnotations:
    """Every split's images and objects; `sizes` (rel path -> w, h) fills sizes missing from the JSON."""
    loaded = {split: (path, _load(path, root)) for split, path in files.items()}
    categories = _categories(loaded, root)
    class_of = {cat_id: index for index, cat_id in enumerate(sorted(categories))}
    images: list[ImageAnnotation] = []
    for split, (path, data) in loaded.items():
        entries: dict[Any, tuple[str, int, int]] = {}
        for entry in data["images"]:
            if not _is_id(entry.get("id")) or entry.get("id") in entries:
                raise _invalid(path, root, f"image id {str(entry.get('id'))[:40]!r} is missing or repeated")
            image = _image_path(root, path.parent, entry.get("file_name"))
            if image is None:
                raise _invalid(path, root, f"image {str(entry.get('file_name'))[:200]!r} is missing")
            rel = image.relative_to(root).as_posix()
            width, height = entry.get("width"), entry.get("height")
            if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
                width, height = sizes[rel] if sizes and rel in sizes else image_size(image)
            entries[entry.get("id")] = (rel, width, height)
        objects = _objects(data, path, root, class_of, {k: (w, h) for k, (_, w, h) in entries.items()})
        for image_id, (rel, width, height) in entries.items():
            images.append(ImageAnnotation(split, rel, width, height, tuple(objects.get(image_id, ()))))
    classes = tuple(categories[cat_id] for cat_id in sorted(categories))
    return DatasetAnnotations(root, classes, tuple(images))


def _area(obj: ObjectAnnotation) -> float:
    if not obj.polygon:
        return obj.box.width * obj.box.height
    xs, ys = obj.polygon[0::2], obj.polygon[1::2]
    return abs(sum(xs[i] * ys[i - 1] - xs[i - 1] * ys[i] for i in range(len(xs)))) / 2


def coco_document(
    images: Sequence[tuple[ImageAnnotation, str]], classes: Sequence[str], *, zero_based: bool = False
) -> JsonDict:
    """A COCO dict for (image, file_name) pairs; category ids 1..N (or 0..N-1), supercategory "object"."""
    offset = 0 if zero_based else 1
    doc: JsonDict = {
        "info": {"description": "exported by tator", "version": "1.0"},
        "licenses": [],
        "categories": [{"id": i + offset, "name": n, "supercategory": "object"} for i, n in enumerate(classes)],
        "images": [],
        "annotations": [],
    }
    for image_id, (image, file_name) in enumerate(images, start=1):
        doc["images"].append({"id": image_id, "file_name": file_name, "width": image.width, "height": image.height})
        for obj in image.objects:
            doc["annotations"].append({
                "id": len(doc["annotations"]) + 1, "image_id": image_id, "category_id": obj.class_id + offset,
                "bbox": [float(v) for v in xyxy_to_xywh(obj.box)[0]], "area": _area(obj), "iscrowd": 0,
                "segmentation": [list(obj.polygon)] if obj.polygon else [],
            })  # fmt: skip
    return doc


def write_coco(
    ann: DatasetAnnotations, dest: Path, *, zero_based: bool = False, split_dirs: Mapping[str, str] | None = None
) -> dict[str, Path]:
    """Write `<dest>/<split>/_annotations.coco.json` with the split's images hard-linked beside it."""
    written: dict[str, Path] = {}
    for split in ann.splits:
        split_dir = dest / (split_dirs or {}).get(split, split)
        split_dir.mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        pairs: list[tuple[ImageAnnotation, str]] = []
        for image in ann.split(split):
            name = unique_name(image.name, taken)
            place_file(ann.root / image.path, split_dir / name)
            pairs.append((image, name))
        atomic_write_json(split_dir / COCO_NAME, coco_document(pairs, ann.classes, zero_based=zero_based))
        written[split] = split_dir / COCO_NAME
    return written

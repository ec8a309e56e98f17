"""YOLO datasets: `labelmap.txt` + `<split>/images|labels` (or flat `images|labels`), one `.txt` per image.

Label lines are `cls cx cy w h` (normalised 0..1) or YOLO-seg `cls x1 y1 x2 y2 ...` (at least 3 points).
Also found: `classes.txt` / `labels.txt` / `data.yaml` names, `valid/` for val, and the
`images/<split>` + `labels/<split>` arrangement; writers always produce the canonical split layout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tator.annotations import BBox
from tator.datasets.formats.model import (
    DatasetAnnotations,
    ImageAnnotation,
    ObjectAnnotation,
    bbox_of_polygon,
    canonical_split,
    image_size,
    is_image_name,
    place_file,
    unique_name,
)
from tator.datasets.labels import LABELMAP_NAMES, labelmap_text, read_labelmap
from tator.errors import DatasetLabelClassOutOfRange, DatasetLabelInvalid, LabelmapInvalid
from tator.vision.boxes import xyxy_to_yolo, yolo_to_xyxy

COORD_TOLERANCE = 1e-3  # exporters round; a box a hair past the edge is still a valid label
MAX_LABEL_FILE_BYTES = 16 * 1024 * 1024
Sizes = Mapping[str, tuple[int, int]]


class LabelLineError(ValueError):
    """A label line that cannot be used; `kind` is malformed | out_of_range | class_out_of_range."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class YoloSplit:
    images: str  # directory relative to the dataset root
    labels: str | None


@dataclass(frozen=True)
class YoloLayout:
    labelmap: str | None  # labelmap file relative to the root; None when names come from data.yaml
    classes: tuple[str, ...]
    splits: dict[str, YoloSplit] = field(default_factory=dict)
    flat: bool = False

    @property
    def canonical(self) -> bool:
        """Already the layout writers produce (so no derived copy is needed)."""
        if self.labelmap != "labelmap.txt":
            return False
        if self.flat:
            return self.splits.get("train") == YoloSplit("images", "labels")
        return all(s.images == f"{n}/images" and s.labels == f"{n}/labels" for n, s in self.splits.items())


def parse_label_line(line: str, n_classes: int | None) -> tuple[int, tuple[float, ...]]:
    """(class id, normalised values) of one label line; raises LabelLineError."""
    parts = line.split()
    try:
        class_value = float(parts[0])
        values = tuple(float(v) for v in parts[1:])
    except (ValueError, IndexError) as exc:
        raise LabelLineError("malformed", f"not numbers: {line[:80]!r}") from exc
    if not class_value.is_integer() or class_value < 0:
        raise LabelLineError("malformed", f"class id must be a non-negative integer, got {parts[0][:20]!r}")
    if not all(math.isfinite(v) for v in values):
        raise LabelLineError("malformed", "coordinates must be finite")
    if len(values) != 4 and (len(values) < 6 or len(values) % 2):
        raise LabelLineError("malformed", f"expected 4 box values or >= 3 polygon points, got {len(values)} values")
    class_id = int(class_value)
    if n_classes is not None and class_id >= n_classes:
        raise LabelLineError("class_out_of_range", f"class id {class_id} is beyond the labelmap ({n_classes} classes)")
    low, high = -COORD_TOLERANCE, 1 + COORD_TOLERANCE
    if len(values) == 4:
        cx, cy, w, h = values
        if w <= 0 or h <= 0 or not all(low <= v <= high for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)):
            raise LabelLineError("out_of_range", f"box {values} is empty or outside the image")
    elif not all(low <= v <= high for v in values):
        raise LabelLineError("out_of_range", "polygon point outside the image")
    return class_id, values


def to_object(class_id: int, values: tuple[float, ...], width: int, height: int) -> ObjectAnnotation:
    """A parsed label line in pixels."""
    if len(values) == 4:
        return ObjectAnnotation(class_id, BBox(*(float(v) for v in yolo_to_xyxy(values, width, height)[0])))
    polygon = tuple(v * (width if i % 2 == 0 else height) for i, v in enumerate(values))
    return ObjectAnnotation(class_id, bbox_of_polygon(polygon), polygon)


def format_object(obj: ObjectAnnotation, width: int, height: int) -> str:
    """One label line for an object (a YOLO-seg line when it has a polygon)."""
    if obj.polygon:
        coords = " ".join(f"{v / (width if i % 2 == 0 else height):.8f}" for i, v in enumerate(obj.polygon))
        return f"{obj.class_id} {coords}"
    cx, cy, w, h = (float(v) for v in xyxy_to_yolo(obj.box, width, height)[0])
    return f"{obj.class_id} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}"


def _yaml_names(path: Path) -> tuple[str, ...] | None:
    import yaml

    if path.stat().st_size > 256 * 1024:
        raise LabelmapInvalid("data.yaml is over 256 KiB")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LabelmapInvalid(f"data.yaml is not valid YAML: {exc}") from exc
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict) and all(isinstance(k, int) for k in names):
        names = [names[k] for k in sorted(names)]
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        return None
    return tuple(n.strip() for n in names)


def _split_dirs(root: Path) -> tuple[dict[str, YoloSplit], bool]:
    splits: dict[str, YoloSplit] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        split = canonical_split(child.name)
        if split and split not in splits and (child / "images").is_dir():
            labels = f"{child.name}/labels" if (child / "labels").is_dir() else None
            splits[split] = YoloSplit(f"{child.name}/images", labels)
    if splits:
        return splits, False
    if (root / "images").is_dir():
        for child in sorted(p for p in (root / "images").iterdir() if p.is_dir()):
            split = canonical_split(child.name)
            if split and split not in splits:
                labels = f"labels/{child.name}" if (root / "labels" / child.name).is_dir() else None
                splits[split] = YoloSplit(f"images/{child.name}", labels)
        if splits:
            return splits, False
        return {"train": YoloSplit("images", "labels" if (root / "labels").is_dir() else None)}, True
    return {}, False


def detect_layout(root: Path) -> YoloLayout | None:
    """The YOLO layout under `root`, or None when there is no images folder in any known arrangement."""
    splits, flat = _split_dirs(root)
    if not splits:
        return None
    labelmap = next((name for name in LABELMAP_NAMES if (root / name).is_file()), None)
    classes: tuple[str, ...] = ()
    if labelmap is not None:
        classes = tuple(read_labelmap(root / labelmap))
    else:
        yaml_path = next((root / n for n in ("data.yaml", "dataset.yaml") if (root / n).is_file()), None)
        classes = (_yaml_names(yaml_path) or ()) if yaml_path is not None else ()
    return YoloLayout(labelmap, classes, splits, flat)


def label_path_for(root: Path, split: YoloSplit, image: Path) -> Path | None:
    if split.labels is None:
        return None
    relative = image.relative_to(root / split.images)
    return (root / split.labels / relative).with_suffix(".txt")


def iter_split_images(root: Path, split: YoloSplit) -> list[Path]:
    """Image files under a split's images folder (recursively, hidden names skipped), sorted."""
    base = root / split.images
    found = [p for p in base.rglob("*") if p.is_file() and is_image_name(p.name)]
    return sorted(p for p in found if not any(part.startswith(".") for part in p.relative_to(base).parts))


def read_label_file(path: Path, n_classes: int | None, width: int, height: int) -> tuple[ObjectAnnotation, ...]:
    """Objects of one label file (pixels); the first bad line raises the matching DatasetLabel* error."""
    if path.stat().st_size > MAX_LABEL_FILE_BYTES:
        raise DatasetLabelInvalid(f"{path.name} is over {MAX_LABEL_FILE_BYTES} bytes", path=path.name)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetLabelInvalid(f"{path.name} is not UTF-8 text", path=path.name) from exc
    objects: list[ObjectAnnotation] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            class_id, values = parse_label_line(line, n_classes)
        except LabelLineError as exc:
            error = DatasetLabelClassOutOfRange if exc.kind == "class_out_of_range" else DatasetLabelInvalid
            raise error(f"{path.name} line {number}: {exc}", path=path.name, line=number, reason=exc.kind) from exc
        objects.append(to_object(class_id, values, width, height))
    return tuple(objects)


def read_yolo(root: Path, layout: YoloLayout, *, sizes: Sizes | None = None) -> DatasetAnnotations:
    """Every image of every split with its objects (pixels); `sizes` (rel path -> w, h) skips header reads."""
    n_classes = len(layout.classes) or None
    images: list[ImageAnnotation] = []
    for split_name, split in layout.splits.items():
        for image in iter_split_images(root, split):
            key = image.relative_to(root).as_posix()
            width, height = sizes[key] if sizes and key in sizes else image_size(image)
            label = label_path_for(root, split, image)
            objects = read_label_file(label, n_classes, width, height) if label and label.is_file() else ()
            images.append(ImageAnnotation(split_name, key, width, height, objects))
    return DatasetAnnotations(root, layout.classes, tuple(images))


def write_yolo(ann: DatasetAnnotations, dest: Path) -> YoloLayout:
    """Write the canonical split layout under `dest` (images hard-linked from `ann.root`); returns it."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "labelmap.txt").write_text(labelmap_text(ann.classes), encoding="utf-8")
    splits: dict[str, YoloSplit] = {}
    for split in ann.splits:
        taken: set[str] = set()
        images_dir, labels_dir = dest / split / "images", dest / split / "labels"
        labels_dir.mkdir(parents=True, exist_ok=True)
        for image in ann.split(split):
            name = unique_name(image.name, taken)
            place_file(ann.root / image.path, images_dir / name)
            lines = [format_object(obj, image.width, image.height) for obj in image.objects]
            (labels_dir / Path(name).with_suffix(".txt").name).write_text(
                "".join(f"{line}\n" for line in lines), encoding="utf-8"
            )
        splits[split] = YoloSplit(f"{split}/images", f"{split}/labels")
    return YoloLayout("labelmap.txt", ann.classes, splits, False)

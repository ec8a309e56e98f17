"""Synthetic detection datasets with known answers: coloured shapes on a noisy background, in YOLO layout.

Each class is drawn as its own shape in its own colour (class 0 a red square, 1 a green circle, 2 a blue
triangle, ...), so even a tiny detector trained for a few epochs can tell them apart. Boxes are pixel xyxy
(see `tator.annotations`); label files are YOLO-normalised.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from tator.annotations import BBox
from tator.vision.masks import BoolMask, polygon_mask

log = logging.getLogger(__name__)

DEFAULT_CLASSES: tuple[str, ...] = ("red_square", "green_circle", "blue_triangle")
SHAPES: tuple[str, ...] = ("square", "circle", "triangle", "diamond", "hexagon", "cross")
COLOURS: tuple[tuple[int, int, int], ...] = (
    (220, 30, 30),
    (30, 200, 40),
    (30, 60, 230),
    (235, 215, 20),
    (210, 40, 210),
    (30, 210, 220),
)
Point = tuple[float, float]


@dataclass(frozen=True)
class GroundTruthBox:
    """One drawn shape: its class, its pixel box and the polygon that was filled."""

    class_id: int
    box: BBox
    polygon: tuple[Point, ...]

    def mask(self, width: int, height: int) -> BoolMask:
        """The shape's exact pixels in a `width` x `height` image: the polygon filled as it was painted
        (shapes never overlap, so no other shape covers any of them)."""
        return polygon_mask([v for point in self.polygon for v in point], width, height)


@dataclass(frozen=True)
class SyntheticImage:
    """One generated image and its label file; `key` is the image path relative to the dataset root."""

    split: str
    key: str
    path: Path
    label_path: Path
    width: int
    height: int
    boxes: tuple[GroundTruthBox, ...]


@dataclass(frozen=True)
class SyntheticDataset:
    """A generated YOLO split dataset (`labelmap.txt`, `train/`, `val/`) and its ground truth."""

    root: Path
    labelmap: tuple[str, ...]
    images: tuple[SyntheticImage, ...]
    polygons: bool

    def split(self, name: str) -> tuple[SyntheticImage, ...]:
        """The images of one split (`train` or `val`), in file-name order."""
        return tuple(image for image in self.images if image.split == name)

    @property
    def boxes(self) -> dict[str, tuple[GroundTruthBox, ...]]:
        """Ground truth per image, keyed by the image path relative to `root` (e.g. `train/images/000.png`)."""
        return {image.key: image.boxes for image in self.images}


def class_style(class_id: int) -> tuple[str, tuple[int, int, int]]:
    """Shape and RGB colour of a class; the first six classes differ in both, later ones in the pair."""
    shape = SHAPES[class_id % len(SHAPES)]
    colour = COLOURS[(class_id + class_id // len(SHAPES)) % len(COLOURS)]
    return shape, colour


def shape_polygon(shape: str, box: BBox) -> tuple[Point, ...]:
    """Vertices (pixels) of `shape` inscribed in `box`; circles are 32-gons so masks match the drawing."""
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    rx, ry = box.width / 2, box.height / 2
    if shape == "square":
        return ((box.x1, box.y1), (box.x2, box.y1), (box.x2, box.y2), (box.x1, box.y2))
    if shape == "triangle":
        return ((cx, box.y1), (box.x2, box.y2), (box.x1, box.y2))
    if shape == "diamond":
        return ((cx, box.y1), (box.x2, cy), (cx, box.y2), (box.x1, cy))
    if shape == "cross":
        a, b = rx / 3, ry / 3
        return (
            (cx - a, box.y1), (cx + a, box.y1), (cx + a, cy - b), (box.x2, cy - b), (box.x2, cy + b), (cx + a, cy + b),
            (cx + a, box.y2), (cx - a, box.y2), (cx - a, cy + b), (box.x1, cy + b), (box.x1, cy - b), (cx - a, cy - b),
        )  # fmt: skip
    sides = 6 if shape == "hexagon" else 32
    phase = 0.0 if shape == "hexagon" else math.pi / sides
    angles = [2 * math.pi * k / sides + phase for k in range(sides)]
    return tuple((round(cx + rx * math.cos(a), 2), round(cy + ry * math.sin(a), 2)) for a in angles)


def _place_boxes(rng: np.random.Generator, image_size: int, count: int) -> list[BBox]:
    """Up to `count` non-overlapping square-ish boxes (2 px apart), at least one."""
    boxes: list[BBox] = []
    low, high = max(8, image_size // 7), max(12, image_size // 3)
    for _ in range(200):
        if len(boxes) == count:
            break
        w, h = (int(v) for v in rng.integers(low, high + 1, size=2))
        x1 = int(rng.integers(1, image_size - w - 1))
        y1 = int(rng.integers(1, image_size - h - 1))
        cand = BBox(float(x1), float(y1), float(x1 + w), float(y1 + h))
        if all(_apart(cand, other, gap=2.0) for other in boxes):
            boxes.append(cand)
    return boxes


def _apart(a: BBox, b: BBox, *, gap: float) -> bool:
    return a.x2 + gap <= b.x1 or b.x2 + gap <= a.x1 or a.y2 + gap <= b.y1 or b.y2 + gap <= a.y1


def _render(
    rng: np.random.Generator, image_size: int, n_classes: int
) -> tuple[Image.Image, tuple[GroundTruthBox, ...]]:
    base = int(rng.integers(90, 170))
    canvas = Image.new("RGB", (image_size, image_size), (base, base, base))
    draw = ImageDraw.Draw(canvas)
    truths: list[GroundTruthBox] = []
    for box in _place_boxes(rng, image_size, int(rng.integers(1, 5))):
        class_id = int(rng.integers(0, n_classes))
        shape, colour = class_style(class_id)
        polygon = shape_polygon(shape, box)
        draw.polygon(list(polygon), fill=colour)
        xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
        truths.append(GroundTruthBox(class_id, BBox(min(xs), min(ys), max(xs), max(ys)), polygon))
    pixels = np.asarray(canvas, dtype=np.float32) + rng.normal(0.0, 12.0, size=(image_size, image_size, 3))
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="RGB")
    return noisy, tuple(truths)


def _label_line(truth: GroundTruthBox, image_size: int, *, polygons: bool) -> str:
    def norm(value: float) -> str:
        return f"{min(max(value / image_size, 0.0), 1.0):.6f}"

    if polygons:
        coords = " ".join(f"{norm(x)} {norm(y)}" for x, y in truth.polygon)
        return f"{truth.class_id} {coords}"
    b = truth.box
    return f"{truth.class_id} {norm((b.x1 + b.x2) / 2)} {norm((b.y1 + b.y2) / 2)} {norm(b.width)} {norm(b.height)}"


def _write_split(
    root: Path, split: str, count: int, rng: np.random.Generator, *, image_size: int, n_classes: int, polygons: bool
) -> list[SyntheticImage]:
    images_dir, labels_dir = root / split / "images", root / split / "labels"
    images_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    written: list[SyntheticImage] = []
    for index in range(count):
        image, truths = _render(rng, image_size, n_classes)
        stem = f"{split}_{index:04d}"
        image_path, label_path = images_dir / f"{stem}.png", labels_dir / f"{stem}.txt"
        image.save(image_path)
        lines = [_label_line(truth, image_size, polygons=polygons) for truth in truths]
        label_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        key = image_path.relative_to(root).as_posix()
        written.append(SyntheticImage(split, key, image_path, label_path, image_size, image_size, truths))
    return written


def make_detection_dataset(
    dest: Path,
    *,
    classes: Sequence[str] = DEFAULT_CLASSES,
    n_train: int = 24,
    n_val: int = 8,
    image_size: int = 128,
    seed: int = 0,
    polygons: bool = False,
) -> SyntheticDataset:
    """Write a YOLO split dataset under `dest` (1-4 non-overlapping shapes per PNG) and return its ground truth.

    Labels are `cls cx cy w h` normalised to 0..1, or YOLO-seg polygons (`cls x1 y1 x2 y2 ...`) when `polygons`.
    The same arguments always give the same files. Existing files of the same names are overwritten.
    """
    if not classes:
        raise ValueError("at least one class is needed")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32, got {image_size}")
    rng = np.random.default_rng(seed)
    dest.mkdir(parents=True, exist_ok=True)
    labelmap = tuple(classes)
    (dest / "labelmap.txt").write_text("\n".join(labelmap) + "\n", encoding="utf-8")
    images: list[SyntheticImage] = []
    for split, count in (("train", n_train), ("val", n_val)):
        images += _write_split(
            dest, split, count, rng, image_size=image_size, n_classes=len(labelmap), polygons=polygons
        )
    log.info("synthetic.dataset root=%s images=%d classes=%d polygons=%s", dest, len(images), len(labelmap), polygons)
    return SyntheticDataset(root=dest, labelmap=labelmap, images=tuple(images), polygons=polygons)

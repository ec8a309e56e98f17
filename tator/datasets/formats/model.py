"""The format-neutral annotation model every reader returns and every writer takes.

Coordinates follow `tator.annotations`: boxes are absolute pixels `xyxy`; polygons are flat pixel
`(x1, y1, x2, y2, ...)` tuples. Image paths are POSIX paths relative to `DatasetAnnotations.root`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from PIL import UnidentifiedImageError

from tator.annotations import BBox
from tator.runtime.images import open_image

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".heif"})
SPLIT_ALIASES: dict[str, str] = {
    "train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test",
}  # fmt: skip
SPLIT_ORDER: tuple[str, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class ObjectAnnotation:
    """One labelled object: its class id (index into the labelmap), pixel box and optional polygon."""

    class_id: int
    box: BBox
    polygon: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ImageAnnotation:
    """One image of a split with its size (pixels) and objects; `path` is relative to the dataset root."""

    split: str
    path: str
    width: int
    height: int
    objects: tuple[ObjectAnnotation, ...] = ()

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class DatasetAnnotations:
    """A whole dataset: classes (index = class id) and every image with its objects."""

    root: Path
    classes: tuple[str, ...]
    images: tuple[ImageAnnotation, ...]
    extra: dict[str, str] = field(default_factory=dict)

    def split(self, name: str) -> tuple[ImageAnnotation, ...]:
        return tuple(image for image in self.images if image.split == name)

    @property
    def splits(self) -> tuple[str, ...]:
        present = {image.split for image in self.images}
        return tuple(s for s in SPLIT_ORDER if s in present) + tuple(sorted(present - set(SPLIT_ORDER)))

    @property
    def has_polygons(self) -> bool:
        return any(obj.polygon for image in self.images for obj in image.objects)

    @property
    def box_count(self) -> int:
        return sum(len(image.objects) for image in self.images)


def is_image_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in IMAGE_EXTENSIONS


def canonical_split(name: str) -> str | None:
    """`train`, `val` or `test` for a folder name (`valid`, `validation`, `training` included), else None."""
    return SPLIT_ALIASES.get(name.lower())


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) read from the image header, without decoding pixels."""
    try:
        with open_image(path) as image:
            width, height = image.size
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise ValueError(f"unreadable image {path.name}: {exc}") from exc
    return int(width), int(height)


def bbox_of_polygon(polygon: Iterable[float]) -> BBox:
    values = list(polygon)
    xs, ys = values[0::2], values[1::2]
    return BBox(min(xs), min(ys), max(xs), max(ys))


def place_file(src: Path, dest: Path) -> None:
    """Put `src` at `dest` as a hard link (same bytes, no copy), copying when linking is impossible."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        dest.unlink()
    try:
        os.link(src, dest)
    except OSError:
        shutil.copyfile(src, dest)


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `stem_1.ext`, `stem_2.ext` ... when its stem is already taken (case-insensitively), so
    that per-image files keyed by stem (YOLO labels, captions) never collide; records the choice."""
    path = PurePosixPath(name)
    candidate, counter = name, 0
    while PurePosixPath(candidate).stem.casefold() in taken:
        counter += 1
        candidate = f"{path.stem}_{counter}{path.suffix}"
    taken.add(PurePosixPath(candidate).stem.casefold())
    return candidate

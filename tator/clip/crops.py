"""Which crops a head trains on: every labelled box, plus background boxes sampled away from them.

Boxes are pixels xyxy (see `tator.annotations`). Background boxes are drawn with the sizes of the image's
objects, must not overlap any padded object above `BG_MAX_IOU_OBJECT` nor each other above
`BG_MAX_IOU_EACH`, and are capped at `max_bg_share` of all crops. Sampling is seeded per image (by seed and
image path), so the same dataset always yields the same crops, which is what lets embeddings be cached.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tator.annotations import BBox
from tator.clip.embed import square_box
from tator.datasets.formats.model import DatasetAnnotations, ImageAnnotation
from tator.vision.boxes import box_iou

log = logging.getLogger(__name__)

BACKGROUND = -1
BG_MAX_IOU_OBJECT = 0.05
BG_MAX_IOU_EACH = 0.3
BG_TRIES_PER_BOX = 25
MIN_BOX_PIXELS = 2.0


@dataclass(frozen=True)
class ImageCrops:
    """The crops of one image: boxes and their class ids (`BACKGROUND` for sampled background)."""

    path: Path
    key: str  # image path relative to the dataset root (stable across runs)
    boxes: tuple[BBox, ...]
    labels: tuple[int, ...]

    def boxes_array(self) -> np.ndarray:
        return np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)


def _image_rng(seed: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def sample_background(
    image: ImageAnnotation, objects: Sequence[BBox], *, count: int, rng: np.random.Generator, padding: float
) -> list[BBox]:
    """Up to `count` background boxes for one image (fewer when the image is crowded)."""
    if count <= 0 or image.width < 4 or image.height < 4:
        return []
    sizes = [(b.width, b.height) for b in objects] or [(image.width / 4, image.height / 4)]
    n = count * BG_TRIES_PER_BOX
    picks = rng.integers(0, len(sizes), size=n)
    wh = np.asarray([sizes[i] for i in picks], dtype=np.float32) * rng.uniform(0.8, 1.25, size=(n, 1))
    wh = np.clip(wh, 4.0, [image.width, image.height])
    x1 = rng.uniform(0, 1, size=n) * (image.width - wh[:, 0])
    y1 = rng.uniform(0, 1, size=n) * (image.height - wh[:, 1])
    candidates = np.stack([x1, y1, x1 + wh[:, 0], y1 + wh[:, 1]], axis=1).astype(np.float32)
    if objects:
        padded = np.asarray([square_box(b, padding=padding) for b in objects], dtype=np.float32)
        free = box_iou(candidates, padded).max(axis=1) <= BG_MAX_IOU_OBJECT
        candidates = candidates[free]
    chosen: list[int] = []
    overlaps = box_iou(candidates, candidates)
    for index in range(len(candidates)):
        if len(chosen) == count:
            break
        if not chosen or overlaps[index, chosen].max() <= BG_MAX_IOU_EACH:
            chosen.append(index)
    return [BBox(*(round(float(v), 2) for v in candidates[i])) for i in chosen]


def plan_crops(
    annotations: DatasetAnnotations,
    *,
    bg_per_image: int,
    max_bg_share: float,
    seed: int,
    padding: float,
) -> list[ImageCrops]:
    """Object and background crops of every image that has a usable box (tiny boxes are skipped)."""
    plans: list[ImageCrops] = []
    for image in sorted(annotations.images, key=lambda i: i.path):
        objects = [o for o in image.objects if o.box.width >= MIN_BOX_PIXELS and o.box.height >= MIN_BOX_PIXELS]
        boxes = [o.box for o in objects]
        rng = _image_rng(seed, image.path)
        background = sample_background(image, boxes, count=bg_per_image, rng=rng, padding=padding)
        if not boxes and not background:
            continue
        labels = tuple(o.class_id for o in objects) + (BACKGROUND,) * len(background)
        plans.append(ImageCrops(annotations.root / image.path, image.path, tuple(boxes + background), labels))
    return _cap_background(plans, max_bg_share)


def _cap_background(plans: list[ImageCrops], max_share: float) -> list[ImageCrops]:
    """Drop background crops (last ones of each image first, round-robin) down to `max_share` of all crops."""
    objects = sum(sum(1 for lab in p.labels if lab != BACKGROUND) for p in plans)
    background = sum(sum(1 for lab in p.labels if lab == BACKGROUND) for p in plans)
    share = min(max(max_share, 0.0), 0.95)
    allowed = int(share / (1.0 - share) * objects)
    if background <= allowed:
        return plans
    keep = Counter[int]()
    while sum(keep.values()) < allowed:
        for index, plan in enumerate(plans):
            if keep[index] < plan.labels.count(BACKGROUND) and sum(keep.values()) < allowed:
                keep[index] += 1
    capped: list[ImageCrops] = []
    for index, plan in enumerate(plans):
        n_obj = len(plan.labels) - plan.labels.count(BACKGROUND)
        n = n_obj + keep[index]
        capped.append(replace(plan, boxes=plan.boxes[:n], labels=plan.labels[:n]))
    return [p for p in capped if p.boxes]


def class_counts(plans: Sequence[ImageCrops]) -> Counter[int]:
    return Counter(label for plan in plans for label in plan.labels)


def drop_rare_classes(plans: list[ImageCrops], min_per_class: int) -> tuple[list[ImageCrops], list[int]]:
    """Remove object crops of classes with fewer than `min_per_class` samples; returns the dropped ids."""
    counts = class_counts(plans)
    rare = sorted(c for c, n in counts.items() if c != BACKGROUND and n < min_per_class)
    if not rare:
        return plans, []
    kept: list[ImageCrops] = []
    for plan in plans:
        pairs = [(b, lab) for b, lab in zip(plan.boxes, plan.labels, strict=True) if lab not in rare]
        if pairs:
            kept.append(replace(plan, boxes=tuple(b for b, _ in pairs), labels=tuple(lab for _, lab in pairs)))
    return kept, rare

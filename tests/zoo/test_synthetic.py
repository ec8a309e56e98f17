from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tator.zoo.synthetic import DEFAULT_CLASSES, SyntheticDataset, class_style, make_detection_dataset


def _label_rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text(encoding="utf-8").splitlines() if line]


def test_layout_and_labelmap(synthetic_dataset: SyntheticDataset) -> None:
    root = synthetic_dataset.root
    assert (root / "labelmap.txt").read_text(encoding="utf-8").splitlines() == list(DEFAULT_CLASSES)
    assert synthetic_dataset.labelmap == DEFAULT_CLASSES
    for split, count in (("train", 24), ("val", 8)):
        images = sorted((root / split / "images").glob("*.png"))
        labels = sorted((root / split / "labels").glob("*.txt"))
        assert len(images) == count
        assert [p.stem for p in images] == [p.stem for p in labels]
        assert len(synthetic_dataset.split(split)) == count
    with Image.open(synthetic_dataset.images[0].path) as image:
        assert image.size == (128, 128)
        assert image.mode == "RGB"


def test_labels_match_ground_truth(synthetic_dataset: SyntheticDataset) -> None:
    for image in synthetic_dataset.images:
        rows = _label_rows(image.label_path)
        assert 1 <= len(rows) <= 4
        assert len(rows) == len(image.boxes)
        for row, truth in zip(rows, image.boxes, strict=True):
            assert row[0] == truth.class_id
            assert 0 <= truth.class_id < len(DEFAULT_CLASSES)
            cx, cy, w, h = row[1:]
            assert all(0.0 <= v <= 1.0 for v in row[1:])
            box = truth.box
            assert 0 <= box.x1 < box.x2 <= image.width and 0 <= box.y1 < box.y2 <= image.height
            assert cx * image.width == pytest.approx((box.x1 + box.x2) / 2, abs=0.01)
            assert cy * image.height == pytest.approx((box.y1 + box.y2) / 2, abs=0.01)
            assert w * image.width == pytest.approx(box.width, abs=0.01)
            assert h * image.height == pytest.approx(box.height, abs=0.01)


def test_boxes_do_not_overlap(synthetic_dataset: SyntheticDataset) -> None:
    for boxes in synthetic_dataset.boxes.values():
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                a_box, b_box = a.box, b.box
                overlap_w = min(a_box.x2, b_box.x2) - max(a_box.x1, b_box.x1)
                overlap_h = min(a_box.y2, b_box.y2) - max(a_box.y1, b_box.y1)
                assert overlap_w <= 0 or overlap_h <= 0


def test_shapes_are_painted_in_their_class_colour(synthetic_dataset: SyntheticDataset) -> None:
    for image in synthetic_dataset.images[:6]:
        pixels = np.asarray(Image.open(image.path).convert("RGB"), dtype=np.float32)
        for truth in image.boxes:
            box = truth.box
            cx, cy = int((box.x1 + box.x2) / 2), int(box.y1 + 0.6 * box.height)
            patch = pixels[cy - 1 : cy + 2, cx - 1 : cx + 2].reshape(-1, 3).mean(axis=0)
            _, colour = class_style(truth.class_id)
            assert np.abs(patch - np.asarray(colour)).max() < 40, (image.key, truth)


def test_classes_have_distinct_shapes_and_colours() -> None:
    styles = [class_style(i) for i in range(6)]
    assert len({shape for shape, _ in styles}) == 6
    assert len({colour for _, colour in styles}) == 6
    assert class_style(0) == ("square", (220, 30, 30))
    assert len({class_style(i) for i in range(36)}) == 36


def test_same_seed_same_files_other_seed_other_files(tmp_path: Path) -> None:
    first = make_detection_dataset(tmp_path / "a", n_train=3, n_val=1, seed=7)
    second = make_detection_dataset(tmp_path / "b", n_train=3, n_val=1, seed=7)
    third = make_detection_dataset(tmp_path / "c", n_train=3, n_val=1, seed=8)
    assert first.boxes == second.boxes
    for image in first.images:
        twin = tmp_path / "b" / image.key
        assert image.path.read_bytes() == twin.read_bytes()
        assert image.label_path.read_text() == (tmp_path / "b" / image.label_path.relative_to(first.root)).read_text()
    assert first.boxes.keys() == third.boxes.keys()
    assert first.boxes != third.boxes


def test_polygon_labels(tmp_path: Path) -> None:
    dataset = make_detection_dataset(
        tmp_path / "seg", classes=("a", "b", "c", "d"), n_train=4, n_val=2, image_size=96, polygons=True
    )
    assert dataset.polygons
    assert (dataset.root / "labelmap.txt").read_text(encoding="utf-8").split() == ["a", "b", "c", "d"]
    for image in dataset.images:
        rows = _label_rows(image.label_path)
        for row, truth in zip(rows, image.boxes, strict=True):
            assert row[0] == truth.class_id
            coords = row[1:]
            assert len(coords) % 2 == 0 and len(coords) >= 6
            assert len(coords) // 2 == len(truth.polygon)
            xs, ys = np.asarray(coords[0::2]) * 96, np.asarray(coords[1::2]) * 96
            assert xs.min() == pytest.approx(truth.box.x1, abs=0.01)
            assert ys.max() == pytest.approx(truth.box.y2, abs=0.01)


def test_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="class"):
        make_detection_dataset(tmp_path / "x", classes=())
    with pytest.raises(ValueError, match="image_size"):
        make_detection_dataset(tmp_path / "y", image_size=16)


def test_each_shape_gives_its_true_mask(synthetic_dataset: SyntheticDataset) -> None:
    for image in synthetic_dataset.images[:8]:
        with Image.open(image.path) as opened:
            pixels = np.asarray(opened.convert("RGB"), dtype=np.float32)
        for truth in image.boxes:
            mask = truth.mask(image.width, image.height)
            _, colour = class_style(truth.class_id)
            # painted pixels are the class colour plus noise (sigma 12); pixels just outside the mask are not
            assert np.abs(pixels[mask].mean(axis=0) - colour).max() < 6
            ring = np.zeros_like(mask)
            x1, y1, x2, y2 = (int(v) for v in truth.box)
            ring[max(0, y1 - 1) : y2 + 2, max(0, x1 - 1) : x2 + 2] = True
            outside = ring & ~mask
            assert np.abs(pixels[outside] - colour).max(axis=1).min() > 20

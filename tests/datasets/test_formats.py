from __future__ import annotations

import json
from pathlib import Path

import pytest

from tator.datasets.formats.coco import find_coco_files, read_coco, write_coco
from tator.datasets.formats.model import DatasetAnnotations
from tator.datasets.formats.qwen import find_jsonl_files, read_qwen, write_qwen
from tator.datasets.formats.yolo import LabelLineError, detect_layout, parse_label_line, read_yolo, write_yolo
from tator.errors import DatasetAnnotationsInvalid
from tests.datasets.zips import png_bytes, synthetic

Rows = dict[tuple[str, str], list[tuple[int, tuple[float, ...]]]]


def _label_rows(root: Path) -> Rows:
    """(split, image stem) -> sorted (class, normalised values) straight from the label files."""
    rows: Rows = {}
    for label in sorted(root.glob("*/labels/*.txt")):
        lines = [line.split() for line in label.read_text(encoding="utf-8").splitlines() if line.strip()]
        rows[(label.parts[-3], label.stem)] = sorted((int(p[0]), tuple(float(v) for v in p[1:])) for p in lines)
    return rows


def _normalised(ann: DatasetAnnotations) -> Rows:
    rows: Rows = {}
    for image in ann.images:
        found = []
        for obj in image.objects:
            if obj.polygon:
                values = tuple(v / (image.width if i % 2 == 0 else image.height) for i, v in enumerate(obj.polygon))
            else:
                b = obj.box
                values = ((b.x1 + b.x2) / 2 / image.width, (b.y1 + b.y2) / 2 / image.height,
                          b.width / image.width, b.height / image.height)  # fmt: skip
            found.append((obj.class_id, values))
        rows[(image.split, Path(image.path).stem)] = sorted(found)
    return rows


def _assert_same(expected: Rows, actual: Rows) -> None:
    assert expected.keys() == actual.keys()
    for key, rows in expected.items():
        assert len(rows) == len(actual[key]), key
        for (cls_a, values_a), (cls_b, values_b) in zip(rows, actual[key], strict=True):
            assert cls_a == cls_b, key
            assert values_a == pytest.approx(values_b, abs=1e-6), key


def _yolo(root: Path) -> DatasetAnnotations:
    layout = detect_layout(root)
    assert layout is not None
    return read_yolo(root, layout)


@pytest.mark.parametrize("polygons", [False, True])
def test_yolo_to_coco_to_yolo_preserves_every_box_and_class(tmp_path: Path, polygons: bool) -> None:
    ds = synthetic(tmp_path / "src", polygons=polygons)
    original = _yolo(ds.root)
    coco_files = write_coco(original, tmp_path / "coco")
    from_coco = read_coco(tmp_path / "coco", coco_files)
    assert from_coco.classes == ds.labelmap
    write_yolo(from_coco, tmp_path / "back")
    back = _yolo(tmp_path / "back")
    assert back.classes == ds.labelmap
    _assert_same(_label_rows(ds.root), _normalised(back))
    _assert_same(_label_rows(ds.root), _label_rows(tmp_path / "back"))
    assert back.has_polygons is polygons


@pytest.mark.parametrize("polygons", [False, True])
def test_yolo_to_qwen_to_coco_preserves_every_box_and_class(tmp_path: Path, polygons: bool) -> None:
    ds = synthetic(tmp_path / "src", polygons=polygons)
    counts = write_qwen(_yolo(ds.root), tmp_path / "qwen", context="shapes")
    assert counts == {"train": 6, "val": 3}
    from_qwen = read_qwen(tmp_path / "qwen", find_jsonl_files(tmp_path / "qwen"), list(ds.labelmap))
    coco = read_coco(tmp_path / "coco", write_coco(from_qwen, tmp_path / "coco"))
    assert coco.classes == ds.labelmap
    _assert_same(_label_rows(ds.root), _normalised(coco))
    record = json.loads((tmp_path / "qwen" / "train" / "annotations.jsonl").read_text().splitlines()[0])
    assert record["context"].startswith("shapes\nObjects of interest: red_square, green_circle, blue_triangle")
    assert len(record["detections"][0]["bbox"]) == 4 and len(record["detections"][0]["point"]) == 2


def _coco_doc(categories: list[dict[str, object]], annotations: list[dict[str, object]]) -> dict[str, object]:
    images = [{"id": 1, "file_name": "a.png", "width": 40, "height": 30}]
    return {"images": images, "annotations": annotations, "categories": categories}


def test_coco_with_non_contiguous_category_ids_maps_by_sorted_id(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.png").write_bytes(png_bytes((40, 30)))
    categories = [{"id": 9, "name": "cat"}, {"id": 2, "name": "ant"}, {"id": 5, "name": "bee"}]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 9, "bbox": [1, 2, 3, 4]},
        {"id": 2, "image_id": 1, "category_id": 2, "bbox": [5, 6, 7, 8]},
        {"id": 3, "image_id": 1, "category_id": 5, "bbox": [10, 10, 0, 5]},  # empty: dropped, like the reference
    ]
    (tmp_path / "train" / "_annotations.coco.json").write_text(json.dumps(_coco_doc(categories, annotations)))
    ann = read_coco(tmp_path, find_coco_files(tmp_path))
    assert ann.classes == ("ant", "bee", "cat")
    objects = ann.images[0].objects
    assert [(o.class_id, tuple(o.box)) for o in objects] == [(2, (1.0, 2.0, 4.0, 6.0)), (0, (5.0, 6.0, 12.0, 14.0))]
    write_yolo(ann, tmp_path / "yolo")
    assert (tmp_path / "yolo" / "labelmap.txt").read_text().split() == ["ant", "bee", "cat"]
    line = (tmp_path / "yolo" / "train" / "labels" / "a.txt").read_text().splitlines()[0].split()
    assert line[0] == "2" and float(line[1]) == pytest.approx(2.5 / 40)


def test_coco_roboflow_placeholder_category_is_dropped_and_zero_based_export(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.png").write_bytes(png_bytes((40, 30)))
    categories = [{"id": 0, "name": "animals", "supercategory": "none"},
                  {"id": 1, "name": "cat", "supercategory": "animals"}]  # fmt: skip
    annotations = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]
    (tmp_path / "train" / "_annotations.coco.json").write_text(json.dumps(_coco_doc(categories, annotations)))
    ann = read_coco(tmp_path, find_coco_files(tmp_path))
    assert ann.classes == ("cat",)
    files = write_coco(ann, tmp_path / "out", zero_based=True, split_dirs={"train": "train"})
    doc = json.loads(files["train"].read_text())
    assert doc["categories"] == [{"id": 0, "name": "cat", "supercategory": "object"}]
    assert doc["annotations"][0]["category_id"] == 0 and "info" in doc


def test_coco_file_names_that_escape_are_reduced_to_base_names(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.png").write_bytes(png_bytes((40, 30)))
    doc = _coco_doc([{"id": 1, "name": "x"}], [])
    doc["images"] = [{"id": 1, "file_name": "../../etc/a.png", "width": 40, "height": 30}]
    (tmp_path / "train" / "_annotations.coco.json").write_text(json.dumps(doc))
    assert read_coco(tmp_path, find_coco_files(tmp_path)).images[0].path == "train/a.png"


@pytest.mark.parametrize(
    "doc",
    [
        "{not json",
        json.dumps({"images": "nope"}),
        json.dumps(
            _coco_doc([{"id": 1, "name": "x"}], [{"id": 1, "image_id": 99, "category_id": 1, "bbox": [1, 1, 1, 1]}])
        ),
        json.dumps(
            _coco_doc([{"id": 1, "name": "x"}], [{"id": 1, "image_id": 1, "category_id": 4, "bbox": [1, 1, 1, 1]}])
        ),
        json.dumps(_coco_doc([{"id": "a", "name": "x"}], [])),
        json.dumps(_coco_doc([{"id": 1, "name": "x"}], [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1]}])),
    ],
)
def test_malformed_coco_is_refused(tmp_path: Path, doc: str) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.png").write_bytes(png_bytes((40, 30)))
    (tmp_path / "train" / "_annotations.coco.json").write_text(doc)
    with pytest.raises(DatasetAnnotationsInvalid):
        read_coco(tmp_path, find_coco_files(tmp_path))


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("0 0.5 0.5 0.2", "malformed"),
        ("a 0.5 0.5 0.2 0.2", "malformed"),
        ("-1 0.5 0.5 0.2 0.2", "malformed"),
        ("1.5 0.5 0.5 0.2 0.2", "malformed"),
        ("0 nan 0.5 0.2 0.2", "malformed"),
        ("0 0.5 0.5 0.2 0.2 0.9", "malformed"),
        ("0 1.5 0.5 0.2 0.2", "out_of_range"),
        ("0 0.5 0.5 0 0.2", "out_of_range"),
        ("0 0.1 0.1 0.9 0.9 1.2 0.9", "out_of_range"),
        ("3 0.5 0.5 0.2 0.2", "class_out_of_range"),
    ],
)
def test_bad_label_lines(line: str, kind: str) -> None:
    with pytest.raises(LabelLineError) as info:
        parse_label_line(line, 3)
    assert info.value.kind == kind


def test_good_label_lines() -> None:
    assert parse_label_line("2 0.5 0.5 0.2 0.2", 3) == (2, (0.5, 0.5, 0.2, 0.2))
    assert parse_label_line("0.0 0.1 0.1 0.9 0.1 0.5 0.9", 3)[0] == 0
    assert parse_label_line("1 1.0004 0.5 0.001 0.2", None)[0] == 1  # tolerance for exporter rounding


def test_yolo_layout_variants(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    (flat / "images").mkdir(parents=True)
    (flat / "labels").mkdir()
    (flat / "classes.txt").write_text("a\n")
    layout = detect_layout(flat)
    assert layout is not None and layout.flat and layout.labelmap == "classes.txt" and not layout.canonical
    nested = tmp_path / "nested"
    for split in ("train", "val"):
        (nested / "images" / split).mkdir(parents=True)
        (nested / "labels" / split).mkdir(parents=True)
    (nested / "data.yaml").write_text("names:\n  0: person\n  1: car\n")
    layout = detect_layout(nested)
    assert layout is not None and layout.classes == ("person", "car")
    assert layout.splits["val"].images == "images/val" and not layout.canonical

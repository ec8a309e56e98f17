"""Helpers shared by the dataset tests: synthetic datasets in each layout, zipped."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from tator.zoo.synthetic import SyntheticDataset, make_detection_dataset


def zip_tree(src: Path, dest: Path, *, prefix: str = "", compression: int = zipfile.ZIP_DEFLATED) -> Path:
    """Zip every file under `src` (arcnames relative to it, under `prefix/` when given)."""
    with zipfile.ZipFile(dest, "w", compression) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                name = path.relative_to(src).as_posix()
                zf.write(path, f"{prefix}/{name}" if prefix else name)
    return dest


def zip_entries(dest: Path, entries: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return dest


def png_bytes(size: tuple[int, int] = (32, 24), colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def synthetic(
    root: Path, *, polygons: bool = False, n_train: int = 6, n_val: int = 3, seed: int = 0
) -> SyntheticDataset:
    return make_detection_dataset(root, n_train=n_train, n_val=n_val, image_size=64, seed=seed, polygons=polygons)


def yolo_zip(
    tmp: Path, name: str = "shapes", *, polygons: bool = False, wrap: bool = True
) -> tuple[Path, SyntheticDataset]:
    """A synthetic YOLO split dataset zipped, inside one top-level folder when `wrap`."""
    ds = synthetic(tmp / f"src-{name}" / name, polygons=polygons)
    base = ds.root.parent if wrap else ds.root
    return zip_tree(base, tmp / f"{name}.zip"), ds


def coco_zip(tmp: Path, name: str = "coco_ds", *, category_ids: tuple[int, ...] = (3, 7, 42)) -> Path:
    """A Roboflow-style COCO dataset (train/ and valid/ with images beside `_annotations.coco.json`)."""
    root = tmp / f"src-{name}"
    names = ["cat", "dog", "bird"][: len(category_ids)]
    for split, count in (("train", 3), ("valid", 2)):
        folder = root / split
        folder.mkdir(parents=True)
        doc: dict[str, list[dict[str, object]]] = {"images": [], "annotations": [], "categories": []}
        doc["categories"] = [
            {"id": cid, "name": n, "supercategory": "animals"} for cid, n in zip(category_ids, names, strict=True)
        ]
        for index in range(count):
            (folder / f"{split}_{index}.png").write_bytes(png_bytes((40, 30)))
            doc["images"].append({"id": index + 1, "file_name": f"{split}_{index}.png", "width": 40, "height": 30})
            for k, cid in enumerate(category_ids):
                bbox = [2.0 + k, 3.0 + index, 10.5, 7.25]
                doc["annotations"].append(
                    {
                        "id": len(doc["annotations"]) + 1,
                        "image_id": index + 1,
                        "category_id": cid,
                        "bbox": bbox,
                        "area": 76.125,
                        "iscrowd": 0,
                        "segmentation": [],
                    }
                )
        (folder / "_annotations.coco.json").write_text(json.dumps(doc), encoding="utf-8")
    return zip_tree(root, tmp / f"{name}.zip")


def qwen_zip(tmp: Path, name: str = "qwen_ds") -> Path:
    """A Qwen JSONL dataset (train/ and val/ with images and annotations.jsonl, labelmap.txt)."""
    root = tmp / f"src-{name}"
    (root).mkdir(parents=True)
    (root / "labelmap.txt").write_text("car\nperson\n", encoding="utf-8")
    for split in ("train", "val"):
        (root / split).mkdir()
        lines = []
        for index in range(2):
            (root / split / f"{split}{index}.png").write_bytes(png_bytes((50, 40)))
            dets = [
                {"label": "car", "bbox": [1.5, 2.0, 20.0, 30.25], "point": [10.75, 16.125]},
                {"label": "Person", "bbox": [25, 5, 49, 39], "point": [37, 22]},
            ]
            lines.append(json.dumps({"image": f"{split}{index}.png", "context": "street", "detections": dets}))
        (root / split / "annotations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return zip_tree(root, tmp / f"{name}.zip")


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()

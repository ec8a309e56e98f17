"""`GET /datasets/{id}/check`: counts, boxes per class and every problem found, without changing anything.

Problems (severity): image_unreadable, image_too_large, label_malformed, label_out_of_range,
label_class_beyond_labelmap, duplicate_stem, no_images, no_boxes, labelmap_invalid (errors);
label_empty, label_orphan, duplicate_stem_across_splits (warnings). `ok` means no errors.
"""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tator.datasets.catalog import DatasetRef
from tator.datasets.formats.yolo import LabelLineError, YoloSplit, iter_split_images, parse_label_line
from tator.datasets.imagecheck import DecodeBudget, validate_image
from tator.datasets.install import dataset_access
from tator.datasets.labels import index_by_label, normalise_label, read_labelmap
from tator.datasets.views import YoloView, qwen_files, yolo_view
from tator.errors import DatasetImageTooLarge, TatorError
from tator.storage.layout import Layout

MAX_LISTED_PROBLEMS = 200
WARNINGS = frozenset({"label_empty", "label_orphan", "duplicate_stem_across_splits"})
_LINE_KINDS = {"malformed": "label_malformed", "out_of_range": "label_out_of_range",
               "class_out_of_range": "label_class_beyond_labelmap"}  # fmt: skip


@dataclass
class Report:
    root: Path
    classes: list[str] = field(default_factory=list)
    per_class: Counter[str] = field(default_factory=Counter)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[dict[str, Any]] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)

    def problem(self, code: str, path: Path | str, message: str, line: int | None = None) -> None:
        self.counts[code] += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            rel = path.relative_to(self.root).as_posix() if isinstance(path, Path) else path
            entry: dict[str, Any] = {"code": code, "severity": "warning" if code in WARNINGS else "error",
                                     "path": rel, "message": message}  # fmt: skip
            if line is not None:
                entry["line"] = line
            self.problems.append(entry)

    def detail(self) -> dict[str, Any]:
        totals = Counter[str]()
        for split in self.splits.values():
            totals.update(split)
        return {
            "images": totals["images"], "labels": totals["labels"], "boxes": totals["boxes"],
            "polygons": totals["polygons"], "labelmap_classes": len(self.classes), "classes": self.classes,
            "per_class": {name: self.per_class[name] for name in self.classes}, "splits": self.splits,
            "problems": self.problems, "problem_counts": dict(self.counts),
            "problems_truncated": sum(self.counts.values()) > len(self.problems),
        }  # fmt: skip

    @property
    def ok(self) -> bool:
        return not any(code not in WARNINGS for code in self.counts)


def _decode_all(report: Report, images: list[Path], max_pixels: int) -> None:
    budget = DecodeBudget(256 * 1024 * 1024)

    def one(path: Path) -> TatorError | None:
        try:
            validate_image(path, path.name, max_pixels=max_pixels, budget=budget)
        except TatorError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="tator-check") as pool:
        for path, error in zip(images, pool.map(one, images), strict=True):
            if error is not None:
                code = "image_too_large" if isinstance(error, DatasetImageTooLarge) else "image_unreadable"
                report.problem(code, path, error.message)


def _scan_labels(report: Report, label: Path, split: dict[str, int]) -> None:
    try:
        lines = label.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        report.problem("label_malformed", label, f"unreadable: {exc}")
        return
    if not any(line.strip() for line in lines):
        report.problem("label_empty", label, "label file has no boxes")
        return
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            class_id, values = parse_label_line(line, len(report.classes))
        except LabelLineError as exc:
            report.problem(_LINE_KINDS[exc.kind], label, str(exc), number)
            continue
        split["boxes"] += 1
        split["polygons"] += len(values) > 4
        report.per_class[report.classes[class_id]] += 1


def _stems(report: Report, split_name: str, images: list[Path], seen: dict[str, str]) -> None:
    by_stem: dict[str, list[Path]] = {}
    for image in images:
        by_stem.setdefault(image.with_suffix("").as_posix(), []).append(image)
    for paths in by_stem.values():
        if len(paths) > 1:
            report.problem("duplicate_stem", paths[1], f"{paths[0].name} and {paths[1].name} share one label file")
    for image in images:
        other = seen.setdefault(image.stem, split_name)
        if other != split_name:
            report.problem("duplicate_stem_across_splits", image, f"{image.stem} is also in split {other}")


def scan_yolo(view: YoloView, max_pixels: int) -> Report:
    report = Report(view.root)
    try:
        report.classes = read_labelmap(view.labelmap)
    except TatorError as exc:
        report.problem("labelmap_invalid", view.labelmap, exc.message)
    seen: dict[str, str] = {}
    all_images: list[Path] = []
    for split_name, (images_dir, labels_dir) in view.splits.items():
        split = Counter[str]()
        images = iter_split_images(view.root, _as_split(view, images_dir, labels_dir))
        all_images += images
        split["images"] = len(images)
        _stems(report, split_name, images, seen)
        expected = {(labels_dir / p.relative_to(images_dir)).with_suffix(".txt") for p in images}
        labels = sorted(p for p in labels_dir.rglob("*.txt") if p.is_file())
        split["labels"] = len(labels)
        for label in labels:
            if label not in expected:
                report.problem("label_orphan", label, "label file has no matching image")
            _scan_labels(report, label, split)
        report.splits[split_name] = dict(split)
    _decode_all(report, all_images, max_pixels)
    if not all_images:
        report.problem("no_images", view.root, "the dataset has no images")
    elif not any(s.get("boxes") for s in report.splits.values()):
        report.problem("no_boxes", view.root, "no label line is usable")
    return report


def _as_split(view: YoloView, images_dir: Path, labels_dir: Path) -> YoloSplit:
    return YoloSplit(images_dir.relative_to(view.root).as_posix(), labels_dir.relative_to(view.root).as_posix())


def scan_qwen(root: Path, files: dict[str, Path]) -> Report:
    report = Report(root)
    labelmap = root / "labelmap.txt"
    report.classes = read_labelmap(labelmap) if labelmap.is_file() else []
    index = index_by_label(report.classes)
    for split_name, path in files.items():
        split = Counter[str]()
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                detections = record["detections"] if isinstance(record.get("detections"), list) else []
                image = path.parent / PurePosixPath(str(record["image"]).replace("\\", "/")).name
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                report.problem("label_malformed", path, "not a JSON record with an image", number)
                continue
            split["images"] += 1
            if not image.is_file():
                report.problem("image_unreadable", path, f"{image.name} is missing", number)
            for det in detections:
                label = det.get("label") if isinstance(det, dict) else None
                if isinstance(label, str) and (not index or normalise_label(label) in index):
                    split["boxes"] += 1
                    report.per_class[label if not index else report.classes[index[normalise_label(label)]]] += 1
                else:
                    report.problem("label_class_beyond_labelmap", path, f"label {str(label)[:80]!r}", number)
        report.splits[split_name] = dict(split)
    if not report.classes:
        report.classes = sorted(report.per_class)
    return report


def check_dataset(layout: Layout, dataset_id: str, *, max_pixels: int) -> dict[str, Any]:
    """The reference's `{ok, format, detail}`; detail lists counts, per-class boxes and problems. The dataset
    is held while it is read, so a delete waits for the check instead of cutting it into a false report."""
    with dataset_access(layout, dataset_id) as ref:
        return _check(ref, max_pixels)


def _check(ref: DatasetRef, max_pixels: int) -> dict[str, Any]:
    view = yolo_view(ref)
    if view is not None:
        report = scan_yolo(view, max_pixels)
        return {"ok": report.ok, "format": "yolo", "detail": report.detail()}
    files = qwen_files(ref)
    if files:
        report = scan_qwen(ref.path, files)
        detail = report.detail() | {s: report.splits.get(s, {}).get("images", 0) for s in ("train", "val")}
        return {"ok": report.ok, "format": "qwen", "detail": detail}
    return {"ok": False, "format": str(ref.meta.get("format") or "unknown"), "detail": "dataset_format_unrecognized"}

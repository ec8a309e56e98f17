"""Segmentation build quality on the synthetic shapes, whose true masks are known exactly.

    python tools/bench/segmentation.py [--train 24] [--val 8] [--size 128] [--finetune-steps 0] [--finetune-only]

Every figure is the mean mask IoU against each shape's true mask (`GroundTruthBox.mask`), over every
object of the dataset. Baseline, in the same run: the object's box as its polygon (what a bbox dataset
says about the shape). Rows:
1. the contour step alone (`tator.segmentation.polygons.trace_polygon`) on the true masks: the upper
   bound of the build with a perfect SAM, and the check that tracing and simplification lose nothing;
   beside it the reference's rule (convex hull of the mask's pixels, Douglas-Peucker at 30 px) on the same masks;
2. the whole build job (`tator.segmentation.build.run`) with the tiny random SAM3 tracker and tiny classic
   SAM: their masks are noise, so this row shows the plumbing and the fallback counts, not quality;
3. with `--finetune-steps N` (80 in docs/benchmarks.md): every weight of the tiny SAM3 tracker trained for
   N steps on the training images' true masks (box prompts), then the build on the held-out val images,
   beside the same build with the untrained tracker.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tator.annotations import BBox  # noqa: E402
from tator.offline import configure_model_libraries  # noqa: E402
from tator.segmentation.polygons import box_polygon, trace_polygon  # noqa: E402
from tator.vision.masks import mask_iou, polygon_mask  # noqa: E402
from tator.zoo.synthetic import SyntheticDataset, SyntheticImage, make_detection_dataset  # noqa: E402


def _iou(polygon: Sequence[float], truth: np.ndarray) -> float:
    return mask_iou(polygon_mask(polygon, truth.shape[1], truth.shape[0]), truth)


def _row(name: str, ious: list[float], boxes: list[float], extra: str = "") -> None:
    print(f"| {name} | {len(ious)} | {np.mean(ious):.3f} | {np.mean(boxes):.3f} | {extra} |")


def contour_on_true_masks(images: Sequence[SyntheticImage]) -> None:
    ious, boxes = [], []
    for image in images:
        for truth in image.boxes:
            mask = truth.mask(image.width, image.height)
            traced = trace_polygon(mask, truth.box).polygon
            assert traced is not None
            ious.append(_iou(traced, mask))
            boxes.append(_iou(box_polygon(truth.box), mask))
    _row("contour step on the true masks", ious, boxes, "no fallback")


def reference_rule(mask: np.ndarray, box: BBox, epsilon: float = 30.0) -> tuple[list[float], bool]:
    """The reference's polygon: the convex hull of every mask pixel, then Douglas-Peucker with 30 px; the
    box when fewer than 3 points are left. Returns (polygon, fell back to the box)."""
    import cv2

    points = np.argwhere(mask)[:, ::-1].astype(np.int32)
    hull = cv2.approxPolyDP(cv2.convexHull(points), epsilon, True).reshape(-1, 2)
    if len(hull) < 3:
        return list(box_polygon(box)), True
    return [float(v) for v in hull.reshape(-1)], False


def reference_on_true_masks(images: Sequence[SyntheticImage]) -> None:
    ious, boxes, fallbacks = [], [], 0
    for image in images:
        for truth in image.boxes:
            mask = truth.mask(image.width, image.height)
            polygon, fell_back = reference_rule(mask, truth.box)
            ious.append(_iou(polygon, mask))
            boxes.append(_iou(box_polygon(truth.box), mask))
            fallbacks += fell_back
    _row("the reference's rule (convex hull, 30 px) on the true masks", ious, boxes, f"{fallbacks} box fallbacks")


def _read_polygons(label: Path, width: int, height: int) -> list[list[float]]:
    rows = [[float(v) for v in line.split()[1:]] for line in label.read_text(encoding="utf-8").splitlines() if line]
    return [[v * (width if i % 2 == 0 else height) for i, v in enumerate(row)] for row in rows]


class _Reporter:
    def progress(self, job_id: str, fraction: float | None, message: str | None, phase: str | None) -> None:
        del job_id, fraction, message, phase

    def log(self, job_id: str, message: str) -> None:
        del job_id, message

    def metric(self, job_id: str, name: str, step: float, value: float) -> None:
        del job_id, name, step, value


def build(ds: SyntheticDataset, family: str, source: str, scratch: Path, splits: tuple[str, ...]) -> Any:
    """Run the build job on `ds` (only `splits`), then score its polygons against the true masks."""
    from tator.jobs.context import CancelToken, JobContext
    from tator.segmentation.build import SegmentationBuildPlan, run

    plan = SegmentationBuildPlan(
        source_dataset_id="shapes", source_path=str(ds.root), source_kind="registry", source_root=str(ds.root.parent),
        source_signature=None, output_id="shapes_seg", output_label="shapes seg", output_root=str(scratch),
        classes=list(ds.labelmap), splits=list(splits), sam_variant="sam1" if family == "sam1" else "sam3",
        model_family=family, model_source=source,
    )  # fmt: skip
    run_dir = scratch / f"run-{family}-{time.monotonic_ns()}"
    run_dir.mkdir(parents=True)
    started = time.perf_counter()
    result = run(plan, JobContext("bench", run_dir, "cpu", CancelToken(), _Reporter()))
    seconds = time.perf_counter() - started
    ious, boxes = [], []
    for image in ds.images:
        if image.split not in splits:
            continue
        label = run_dir / "dataset" / image.split / "labels" / f"{image.path.stem}.txt"
        for truth, polygon in zip(image.boxes, _read_polygons(label, image.width, image.height), strict=True):
            mask = truth.mask(image.width, image.height)
            ious.append(_iou(polygon, mask))
            boxes.append(_iou(box_polygon(truth.box), mask))
    return ious, boxes, result, seconds


def _held_out(ds: SyntheticDataset) -> SyntheticDataset:
    """The val images alone, copied into a dataset of their own (as its `train` split, the layout the
    build reads), so a model tuned on the train images is scored on images it never saw."""
    import shutil

    root = ds.root.parent / f"{ds.root.name}-heldout"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(ds.root / "val", root / "train")
    shutil.copy(ds.root / "labelmap.txt", root / "labelmap.txt")
    images = tuple(
        SyntheticImage("train", f"train/{i.path.parent.name}/{i.path.name}", root / "train" / "images" / i.path.name,
                       root / "train" / "labels" / i.label_path.name, i.width, i.height, i.boxes)
        for i in ds.split("val")
    )  # fmt: skip
    return SyntheticDataset(root, ds.labelmap, images, ds.polygons)


def report_build(
    name: str, ds: SyntheticDataset, family: str, source: str, scratch: Path, splits: tuple[str, ...]
) -> None:
    ious, boxes, result, seconds = build(ds, family, source, scratch, splits)
    reasons = {k: v for k, v in result.fallback_reasons.items() if v}
    _row(
        name,
        ious,
        boxes,
        f"{result.fallbacks} fallbacks {reasons}, {seconds:.0f} s" if reasons else f"0 fallbacks, {seconds:.0f} s",
    )


def finetune_tracker(
    source: Path, images: Sequence[SyntheticImage], dest: Path, steps: int, *, lr: float = 3e-3
) -> Path:
    """Train every weight of the tiny SAM3 tracker on `images`' true masks, each image's boxes as its prompts
    (BCE + dice on the low-resolution mask logits, one image per step); saved under `dest`."""
    import random

    import torch
    import torch.nn.functional as F  # noqa: N812
    import transformers
    from PIL import Image

    torch.manual_seed(0)
    model = transformers.Sam3TrackerModel.from_pretrained(source).train()
    processor = transformers.Sam3TrackerProcessor.from_pretrained(source)
    samples = []
    for image in images:
        if image.boxes:
            with Image.open(image.path) as opened:
                encoded = processor(images=opened.convert("RGB"), input_boxes=[[list(t.box) for t in image.boxes]],
                                    return_tensors="pt")  # fmt: skip
            masks = np.stack([t.mask(image.width, image.height) for t in image.boxes]).astype(np.float32)
            samples.append((encoded["pixel_values"], encoded["input_boxes"], torch.from_numpy(masks)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    pick = random.Random(0)
    started = time.perf_counter()
    for step in range(steps):
        pixels, boxes, masks = samples[pick.randrange(len(samples))]
        logits = model(pixel_values=pixels, input_boxes=boxes, multimask_output=False).pred_masks[0, :, 0]
        target = F.interpolate(masks[:, None], size=logits.shape[-2:], mode="area")[:, 0]
        prob = logits.sigmoid()
        dice = 1 - (2 * (prob * target).sum((1, 2)) + 1) / (prob.sum((1, 2)) + target.sum((1, 2)) + 1)
        loss = F.binary_cross_entropy_with_logits(logits, target) + dice.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 20 == 0:
            print(
                f"  fine-tune step {step + 1}: loss {float(loss.detach()):.3f} ({time.perf_counter() - started:.0f} s)"
            )
    model.eval().save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=24)
    parser.add_argument("--val", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--finetune-steps", type=int, default=0)
    parser.add_argument("--finetune-only", action="store_true", help="skip the rows of the random models")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        configure_model_libraries(scratch / "config", offline=True)
        ds = make_detection_dataset(scratch / "shapes", n_train=args.train, n_val=args.val, image_size=args.size)
        print(f"Synthetic shapes: {args.train} train + {args.val} val images of {args.size} px, seed 0\n")
        print("| polygons from | objects | mean mask IoU, polygon | mean mask IoU, box (baseline) | notes |")
        print("|---|---|---|---|---|")
        contour_on_true_masks(ds.images)
        reference_on_true_masks(ds.images)
        from tator.zoo.tiny import ensure_tiny_zoo

        zoo = ensure_tiny_zoo(scratch / "zoo")
        splits = ("train", "val")
        if not args.finetune_only:
            report_build(
                "build, tiny random SAM3 tracker", ds, "sam3_tracker", str(zoo["sam3_tracker"]), scratch, splits
            )
            report_build("build, tiny random classic SAM", ds, "sam1", str(zoo["sam1"]), scratch, splits)
        if args.finetune_steps:
            tuned = finetune_tracker(zoo["sam3_tracker"], ds.split("train"), scratch / "tuned", args.finetune_steps)
            held = _held_out(ds)
            contour_on_true_masks(held.images)
            report_build("val images, tiny random SAM3 tracker", held, "sam3_tracker", str(zoo["sam3_tracker"]),
                         scratch, ("train",))  # fmt: skip
            report_build("val images, tiny SAM3 tracker fine-tuned on train", held, "sam3_tracker", str(tuned),
                         scratch, ("train",))  # fmt: skip


if __name__ == "__main__":
    main()

"""The segmentation build as a job: every ground-truth box of a bbox dataset prompts SAM, and the traced
mask becomes a YOLO-seg polygon (the box's rectangle when no usable mask comes back, counted by reason).

`run(plan, ctx)` loads the SAM model itself (through the production loader, never the server's registry),
reads the source dataset (never writing it) and writes the new dataset under `<run_dir>/dataset/` (images
hard-linked). The completion step, in the server, renames that complete folder into the SAM3 datasets
root under the planned id, so `/datasets` lists either the whole dataset or nothing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tator.annotations import BBox
from tator.datasets.catalog import DatasetRef
from tator.datasets.formats.model import DatasetAnnotations, ImageAnnotation, ObjectAnnotation
from tator.datasets.formats.yolo import write_yolo
from tator.datasets.meta import build_meta, read_meta, signature, tree_fingerprint
from tator.datasets.views import load_annotations, yolo_layout_record
from tator.errors import DatasetNotFound, SegmentationSourceChanged
from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind
from tator.runtime.images import open_image
from tator.runtime.loaders import ModelSpec
from tator.segmentation.polygons import FALLBACK_REASONS, Traced, TraceOptions, box_polygon, trace_polygon
from tator.storage.files import atomic_write_json, remove_tree

KIND = "segmentation.build"
STAGING_DIR = "dataset"  # under the run dir: the complete new dataset, renamed into place at completion
META_NAME = "dataset.json"


class SegmentationBuildPlan(BaseModel):
    """Everything the job needs, resolved by the server before it is queued (paths are absolute)."""

    source_dataset_id: str
    source_path: str
    source_kind: str  # registry | sam3 | qwen: the managed root the source sits in
    source_root: str
    source_signature: str | None
    output_id: str
    output_label: str
    output_root: str  # the managed root the completion step renames the new dataset into
    classes: list[str]
    splits: list[str]
    sam_variant: Literal["sam1", "sam3"]
    model_family: str  # sam1 | sam3_tracker
    model_source: str
    model_options: tuple[tuple[str, str], ...] = ()  # e.g. the active fine-tuned SAM3's image encoder
    mask_threshold: float = 0.5
    score_threshold: float = 0.0
    simplify_ratio: float = 0.005
    simplify_epsilon: float = 30.0
    min_size: float = 0.0
    components: Literal["largest", "all"] = "largest"
    clip_to_box: bool = True

    def trace_options(self) -> TraceOptions:
        return TraceOptions(components=self.components, simplify_ratio=self.simplify_ratio,
                            max_epsilon=self.simplify_epsilon, min_area=self.min_size,
                            clip_to_box=self.clip_to_box)  # fmt: skip


class SegmentationBuildResult(BaseModel):
    """output_dataset_id, counts (images, boxes, polygons, fallbacks by reason), mean SAM score, seconds."""

    model_config = ConfigDict(extra="allow")

    output_dataset_id: str
    images: int
    boxes: int
    polygons: int
    fallbacks: int
    fallback_reasons: dict[str, int] = Field(default_factory=dict)


def source_ref(plan: SegmentationBuildPlan) -> DatasetRef:
    """The source dataset as planned; refused when it was deleted or replaced since."""
    path = Path(plan.source_path)
    if not path.is_dir():
        raise SegmentationSourceChanged(f"dataset {plan.source_dataset_id} is gone", dataset_id=plan.source_dataset_id)
    meta, meta_path = read_meta(path)
    if meta.get("signature") != plan.source_signature:
        raise SegmentationSourceChanged(f"dataset {plan.source_dataset_id} changed since the build was queued",
                                        dataset_id=plan.source_dataset_id)  # fmt: skip
    return DatasetRef(path.name, path, plan.source_kind, Path(plan.source_root), meta, meta_path)


def load_model(family: str, source: str, device: str, options: tuple[tuple[str, str], ...] = ()) -> Any:
    """The interactive SAM handle of `family`, loaded for this job alone."""
    from tator.sam3.loader import load_sam1, load_sam3_tracker

    loader = load_sam1 if family == "sam1" else load_sam3_tracker
    return loader(ModelSpec(family, source, options), device).value


def probability_to_logit(p: float) -> float:
    clipped = min(max(p, 1e-6), 1 - 1e-6)
    return float(np.log(clipped / (1 - clipped)))


def _pixels(path: Path) -> np.ndarray:
    with open_image(path) as image:
        return np.asarray(image.convert("RGB"))


def _prompt_box(box: BBox, width: int, height: int) -> BBox | None:
    x1, y1 = max(0.0, box.x1), max(0.0, box.y1)
    x2, y2 = min(float(width), box.x2), min(float(height), box.y2)
    return BBox(x1, y1, x2, y2) if x2 - x1 >= 1 and y2 - y1 >= 1 else None


def segment_image(
    handle: Any, image: ImageAnnotation, pixels: np.ndarray, plan: SegmentationBuildPlan
) -> tuple[ImageAnnotation, list[Traced], list[float]]:
    """The image with a polygon on every object (a traced mask, else the box), what each trace gave, scores."""
    from tator.sam3.predictor import embed_image, predict_mask
    from tator.sam3.prompts import Prompt

    embedding = embed_image(handle, pixels)
    threshold = probability_to_logit(plan.mask_threshold)
    objects, traces, scores = [], [], []
    for obj in image.objects:
        box = _prompt_box(obj.box, image.width, image.height)
        if box is None:
            traced = Traced(None, "tiny_box")
        else:
            found = predict_mask(handle, embedding, Prompt(box=box), mask_threshold=threshold)
            scores.append(found.score)
            low = found.score < plan.score_threshold
            traced = Traced(None, "low_score") if low else trace_polygon(found.mask, box, plan.trace_options())
        polygon = traced.polygon or box_polygon(box or obj.box)
        objects.append(ObjectAnnotation(obj.class_id, obj.box, polygon))
        traces.append(traced)
    return replace(image, objects=tuple(objects)), traces, scores


def write_dataset(
    ann: DatasetAnnotations, staging: Path, plan: SegmentationBuildPlan, source: DatasetRef, build: dict[str, Any]
) -> dict[str, Any]:
    """Write the new YOLO-seg dataset (labelmap, splits, dataset.json) under `staging`; returns its metadata."""
    remove_tree(staging)
    layout = write_yolo(ann, staging)
    extra = {
        "source_format": "yolo", "views": {"yolo": yolo_layout_record(".", layout)}, "yolo_layout": "split",
        "segmentation_build": build,
    }  # fmt: skip
    meta = build_meta(
        ann, dataset_id=plan.output_id, label=plan.output_label, dataset_type="seg",
        context=str(source.meta.get("context") or ""), source="sam3", fmt="yolo",
        sig=signature(tree_fingerprint(staging)), extra=extra,
    )  # fmt: skip
    glossary = source.meta.get("labelmap_glossary")
    meta["labelmap_glossary"] = glossary if isinstance(glossary, str) else ""
    atomic_write_json(staging / META_NAME, meta)
    return meta


def run(plan: SegmentationBuildPlan, ctx: JobContext) -> SegmentationBuildResult:
    """Prompt SAM with every box of the source, trace polygons, write the new dataset under the run dir."""
    started = time.perf_counter()
    ctx.progress(0.0, "reading the source dataset", phase="setup")
    source = source_ref(plan)
    try:
        ann = load_annotations(source)
    except DatasetNotFound as exc:
        raise SegmentationSourceChanged(exc.message, dataset_id=plan.source_dataset_id) from exc
    ctx.progress(0.0, f"loading {plan.sam_variant}", phase="setup")
    handle = load_model(plan.model_family, plan.model_source, ctx.device, plan.model_options)
    reasons: Counter[str] = Counter()
    scores: list[float] = []
    images: list[ImageAnnotation] = []
    total = len(ann.images)
    for n, image in enumerate(ann.images):
        ctx.checkpoint()  # cancel between images
        if image.objects:
            built, traces, image_scores = segment_image(handle, image, _pixels(ann.root / image.path), plan)
            reasons.update(t.reason for t in traces if t.reason)
            scores += image_scores
            image = built
        images.append(image)
        ctx.progress((n + 1) / total * 0.95, f"{n + 1}/{total} images", phase="segment")
    ctx.checkpoint()
    segmented = replace(ann, images=tuple(images))
    boxes = segmented.box_count
    fallbacks = sum(reasons.values())
    counts = {"images": total, "boxes": boxes, "polygons": boxes - fallbacks, "fallbacks": fallbacks,
              "fallback_reasons": {r: reasons.get(r, 0) for r in FALLBACK_REASONS}}  # fmt: skip
    build = {"job_id": ctx.job_id, "source_dataset_id": plan.source_dataset_id, "sam_variant": plan.sam_variant,
             "model_source": plan.model_source, **counts}  # fmt: skip
    ctx.progress(0.96, "writing the dataset", phase="write")
    write_dataset(segmented, ctx.run_dir / STAGING_DIR, plan, source, build)
    ctx.log(f"{boxes} boxes: {boxes - fallbacks} polygons, {fallbacks} fallbacks {dict(reasons)}")
    ctx.progress(1.0, "done", phase="done")
    return SegmentationBuildResult(
        output_dataset_id=plan.output_id, **counts, mean_score=round(float(np.mean(scores)), 4) if scores else None,
        seconds=round(time.perf_counter() - started, 2),
    )  # fmt: skip


SEGMENTATION_BUILD = JobKind(KIND, run, SegmentationBuildPlan, SegmentationBuildResult, resource="gpu")

"""SAM3 concept segmentation (`Sam3Model`): every instance of a text prompt and/or exemplar boxes.

Boxes and masks come back in pixels of the image as sent. Vision features of a whole image are cached
per (model, image token) like the interactive embeddings; windowed (tiled) prompting runs each tile on its
own and merges overlapping detections with NMS. Masks are upsampled one at a time, only for kept detections,
so memory stays bounded by `max_results` full-size masks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tator.annotations import BBox
from tator.runtime.images import DecodedImage
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.runtime.timing import timed
from tator.sam3.interactive import SamRuntime
from tator.sam3.loader import Sam3Handle
from tator.sam3.predictor import tensor_bytes
from tator.vision.boxes import classwise_nms
from tator.vision.masks import BoolMask
from tator.vision.windows import Window, slice_plan

MAX_MASK_PIXELS = 1_500_000_000  # kept masks x image pixels per answer (about 1.5 GB of booleans)


@dataclass(frozen=True)
class ConceptQuery:
    """A text prompt and/or exemplar boxes (pixel xyxy, labels 1 positive / 0 negative) and output limits."""

    text: str | None
    boxes: tuple[BBox, ...] = ()
    labels: tuple[int, ...] = ()
    threshold: float = 0.5
    mask_threshold: float = 0.5
    max_results: int = 100
    min_size: float = 0.0  # minimum mask area in px^2


@dataclass(frozen=True)
class ConceptDetection:
    box: BBox  # pixel xyxy, inside the image
    score: float
    mask: BoolMask  # H x W of the full image


@dataclass(frozen=True)
class Tiling:
    window_size: int
    overlap: float
    merge_iou: float


def vision_features(handle: Sam3Handle, pixels: np.ndarray) -> Any:
    """The image encoder's output for RGB `pixels` (H x W x 3, uint8), on the model's device."""
    import torch
    from PIL import Image

    encoded = handle.processor(images=Image.fromarray(pixels, mode="RGB"), return_tensors="pt")
    with torch.inference_mode(), timed("encode"):
        return handle.model.get_vision_features(pixel_values=encoded["pixel_values"].to(handle.device))


def _prompt_inputs(handle: Sam3Handle, query: ConceptQuery, width: int, height: int) -> dict[str, Any]:
    boxes = [[list(b) for b in query.boxes]] if query.boxes else None
    encoded = handle.processor(
        text=query.text, input_boxes=boxes, input_boxes_labels=[list(query.labels)] if boxes else None,
        original_sizes=[[height, width]], return_tensors="pt",
    )  # fmt: skip
    return {k: v.to(handle.device) for k, v in encoded.items() if k != "original_sizes"}


def detect(handle: Sam3Handle, features: Any, width: int, height: int, query: ConceptQuery) -> list[ConceptDetection]:
    """Instances of `query` in an image of `width` x `height` whose vision features are `features`."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    inputs = _prompt_inputs(handle, query, width, height)
    with torch.inference_mode():
        with timed("decode"):
            out = handle.model(vision_embeds=features, **inputs)
        scores = out.pred_logits[0].sigmoid()
        if out.presence_logits is not None:
            scores = scores * out.presence_logits[0].sigmoid()
        order = [int(i) for i in torch.argsort(scores, descending=True) if float(scores[i]) > query.threshold]
        limit = max(1, min(query.max_results, MAX_MASK_PIXELS // max(1, width * height)))
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        cutoff = _logit(query.mask_threshold)  # compare logits: no sigmoid over the full-size mask
        found: list[ConceptDetection] = []
        for index in order:
            if len(found) >= limit:
                break
            logits = out.pred_masks[0, index].float()[None, None]
            full = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)[0, 0]
            mask = np.asarray((full > cutoff).cpu().numpy(), dtype=bool)
            if query.min_size > 0 and float(mask.sum()) < query.min_size:
                continue
            x1, y1, x2, y2 = (out.pred_boxes[0, index].float().cpu() * scale).tolist()
            box = BBox(max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
            if box.width <= 0 or box.height <= 0:
                continue
            found.append(ConceptDetection(box, float(scores[index]), mask))
    return found


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def detect_image(
    runtime: SamRuntime, registry: ModelRegistry, spec: ModelSpec, image: DecodedImage, query: ConceptQuery
) -> list[ConceptDetection]:
    """`detect` on the whole image, reusing its cached vision features."""
    with registry.use(spec) as handle:
        features, _ = runtime.cache.get_or_compute(
            (spec.key, image.token),
            lambda: vision_features(handle, image.pixels),
            lambda f: tensor_bytes(list(f.values())),
        )
        return detect(handle, features, image.width, image.height, query)


def detect_windowed(
    registry: ModelRegistry, spec: ModelSpec, image: DecodedImage, query: ConceptQuery, tiling: Tiling
) -> list[ConceptDetection]:
    """`detect` tile by tile (text prompts only), shifted back into the image and merged by NMS."""
    windows = slice_plan(image.width, image.height, slice_size=tiling.window_size, overlap=tiling.overlap)
    found: list[ConceptDetection] = []
    with registry.use(spec) as handle:
        for window in windows:
            tile = np.ascontiguousarray(image.pixels[window.y1 : window.y2, window.x1 : window.x2])
            features = vision_features(handle, tile)
            local = detect(handle, features, tile.shape[1], tile.shape[0], query)
            found.extend(_to_image(d, window, image.width, image.height) for d in local)
    return merge_detections(found, iou=tiling.merge_iou, limit=query.max_results)


def _to_image(detection: ConceptDetection, window: Window, width: int, height: int) -> ConceptDetection:
    mask = np.zeros((height, width), dtype=bool)
    mask[window.y1 : window.y2, window.x1 : window.x2] = detection.mask
    b = detection.box
    box = BBox(b.x1 + window.x1, b.y1 + window.y1, b.x2 + window.x1, b.y2 + window.y1)
    return ConceptDetection(box, detection.score, mask)


def merge_detections(found: list[ConceptDetection], *, iou: float, limit: int) -> list[ConceptDetection]:
    """Drop detections that overlap a higher-scoring one by more than `iou` (box IoU); best first."""
    if not found:
        return []
    boxes = np.asarray([list(d.box) for d in found], dtype=np.float32)
    scores = np.asarray([d.score for d in found], dtype=np.float32)
    keep = classwise_nms(boxes, scores, np.zeros(len(found), dtype=np.int64), iou)
    return [found[int(i)] for i in keep[:limit]]

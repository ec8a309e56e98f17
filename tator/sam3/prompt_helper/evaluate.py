"""Scoring text prompts against ground truth: detections per (prompt, image), greedy IoU matching, and
precision/recall at any score threshold. Vision features are computed once per image and reused by
every prompt. Boxes are pixel xyxy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel

from tator.vision.boxes import box_iou


class SampleImage(BaseModel):
    """One sampled image: its path and the ground-truth boxes (pixel xyxy) of the class being scored."""

    path: str
    boxes: list[list[float]]


@dataclass
class PromptScore:
    """Every detection of one prompt over the sample: score and which ground-truth box it matched."""

    prompt: str
    gt_total: int
    scores: list[float] = field(default_factory=list)
    matched: list[int | None] = field(default_factory=list)  # global gt index, or None for a false positive

    def at(self, threshold: float) -> dict[str, Any]:
        hits = {m for s, m in zip(self.scores, self.matched, strict=True) if s >= threshold and m is not None}
        fp = sum(1 for s, m in zip(self.scores, self.matched, strict=True) if s >= threshold and m is None)
        tp = len(hits)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / self.gt_total if self.gt_total else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"prompt": self.prompt, "threshold": threshold, "tp": tp, "fp": fp, "gt": self.gt_total,
                "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}  # fmt: skip

    def covered(self, threshold: float) -> set[int]:
        return {m for s, m in zip(self.scores, self.matched, strict=True) if s >= threshold and m is not None}


def load_model(source: str, device: str) -> Any:
    """`Sam3Handle` for a job (jobs load their own models, never through the registry)."""
    import transformers

    from tator.sam3.loader import Sam3Handle

    tf: Any = transformers
    model = tf.Sam3Model.from_pretrained(source).to(device).eval()
    return Sam3Handle(model, tf.Sam3Processor.from_pretrained(source), device)


Found = list[tuple[list[float], float]]  # (pixel xyxy box, score), best first


def detect_boxes(handle: Any, features: Any, width: int, height: int, text: str, *, max_dets: int) -> Found:
    """Top `max_dets` (pixel xyxy box, score) of a text prompt, boxes only (no masks)."""
    import torch

    encoded = handle.processor(text=text, return_tensors="pt")
    with torch.inference_mode():
        out = handle.model(vision_embeds=features, **{k: v.to(handle.device) for k, v in encoded.items()})
        scores = out.pred_logits[0].sigmoid()
        if out.presence_logits is not None:
            scores = scores * out.presence_logits[0].sigmoid()
        order = torch.argsort(scores, descending=True)[:max_dets]
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        boxes = (out.pred_boxes[0][order].float().cpu() * scale).tolist()
        return [(b, float(scores[i])) for b, i in zip(boxes, order.tolist(), strict=True)]


def match(gt: list[list[float]], found: Found, iou: float) -> list[int | None]:
    """Greedy matching, highest score first: each detection takes the best free gt box with IoU >= `iou`."""
    if not gt:
        return [None] * len(found)
    ious = box_iou(np.asarray([b for b, _ in found], dtype=np.float32), np.asarray(gt, dtype=np.float32))
    free = set(range(len(gt)))
    result: list[int | None] = []
    for row in ious:
        best = max(free, key=lambda j: row[j], default=None)
        if best is not None and row[best] >= iou:
            free.discard(best)
            result.append(best)
        else:
            result.append(None)
    return result


def score_prompts(
    handle: Any,
    images: list[SampleImage],
    prompts: list[str],
    *,
    iou: float,
    max_dets: int,
    on_image: Callable[[int], None] = lambda _done: None,
) -> list[PromptScore]:
    """Score every prompt on every image (features once per image)."""
    from PIL import Image

    from tator.sam3.concept import vision_features

    results = [PromptScore(p, sum(len(i.boxes) for i in images)) for p in prompts]
    offset = 0
    for n, image in enumerate(images):
        with Image.open(image.path) as opened:
            pixels = np.asarray(opened.convert("RGB"))
        features = vision_features(handle, pixels)
        for result in results:
            found = detect_boxes(handle, features, pixels.shape[1], pixels.shape[0], result.prompt, max_dets=max_dets)
            for (_, score), m in zip(found, match(image.boxes, found, iou), strict=True):
                result.scores.append(score)
                result.matched.append(None if m is None else offset + m)
        offset += len(image.boxes)
        on_image(n + 1)
    return results

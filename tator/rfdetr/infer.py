"""RF-DETR inference: a batched detector over rfdetr for the predict modes of tator.vision.detection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tator.rfdetr.loader import RfdetrHandle
from tator.runtime.timing import timed
from tator.vision.detection import BatchDetector, Detections, Pixels


@dataclass(frozen=True)
class RfdetrOptions:
    conf: float = 0.25
    max_det: int = 300


@dataclass
class RfdetrCallReport:
    """What the last call noticed: class ids that looked 1-based and were shifted down."""

    shifted: bool = False


def batch_detector(handle: RfdetrHandle, options: RfdetrOptions, report: RfdetrCallReport) -> BatchDetector:
    """A callable detecting on a list of RGB images with one batched `predict` call per list.

    RF-DETR keeps an extra "no-object" slot: an id equal to the class count is dropped, unless the ids
    look 1-based (ids 1..N with a labelmap of N), in which case all ids are shifted down by one."""
    count = len(handle.class_names)

    def detect(images: list[Pixels]) -> list[Detections]:
        if not images:
            return []
        with timed("infer"):
            raw = handle.model.predict(list(images), threshold=options.conf)
        results = raw if isinstance(raw, list) else [raw]
        return [_to_detections(r, count, options.max_det, report) for r in results]

    return detect


def _to_detections(result: Any, count: int, max_det: int, report: RfdetrCallReport) -> Detections:
    if result is None or len(result) == 0:
        return Detections.empty()
    boxes = np.asarray(result.xyxy, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(result.confidence, dtype=np.float32).reshape(-1)
    classes = np.asarray(result.class_id, dtype=np.int64).reshape(-1)
    if count and len(classes) and classes.min() >= 1 and classes.max() == count:
        classes = classes - 1
        report.shifted = True
    keep = classes < count if count else np.ones(len(classes), dtype=bool)
    order = np.argsort(-scores[keep])[:max_det]
    return Detections(boxes[keep][order], scores[keep][order], classes[keep][order])

"""Detection evaluation: per-class precision / recall / F1 at one IoU, with every error counted.

Matching is COCO's greedy one-to-one rule: per image and class, predictions in descending score order each take
the unmatched ground-truth box of their class with the highest IoU >= `iou` (ties keep the earlier box); a
prediction left without a box is a false positive. Unlike the reference's evaluator:
- every prediction of every class on every evaluated image counts, including images without ground truth and
  classes absent from an image (false positives);
- every ground-truth box of every evaluated image counts, including images with no prediction (misses);
- several predictions of one ground-truth box count once (one true positive, the rest false positives).

Because greedy matching in score order decides each prediction from the higher-scored ones only, the matches of
the predictions above any threshold are the prefix of the full matching: one matching per class gives the
counts at every threshold (`ClassCurve`), which is what threshold selection and PR curves use.
Boxes are pixel xyxy (tator.annotations).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tator.vision.boxes import box_iou

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Scored:
    """One prediction: the image it is on, its class id, pixel xyxy box and score (higher = more confident)."""

    image: str
    class_id: int
    box: Box
    score: float


@dataclass(frozen=True)
class Counts:
    """True positives, false positives and false negatives, with the derived rates (0 when undefined)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def as_dict(self) -> dict[str, float]:
        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn,
            "precision": round(self.precision, 6), "recall": round(self.recall, 6), "f1": round(self.f1, 6),
        }  # fmt: skip


@dataclass(frozen=True)
class ClassCurve:
    """One class's predictions sorted by descending score with their match outcome, and its number of GT boxes."""

    scores: npt.NDArray[np.float64]
    is_tp: npt.NDArray[np.bool_]
    n_truth: int

    def counts_at(self, threshold: float) -> Counts:
        """Counts when only predictions with score >= threshold are kept."""
        kept = int(np.searchsorted(-self.scores, -threshold, side="right"))
        tp = int(self.is_tp[:kept].sum())
        return Counts(tp, kept - tp, self.n_truth - tp)

    def sweep(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(distinct thresholds descending, TP, FP) when keeping every prediction scored >= each threshold."""
        if len(self.scores) == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        tp = np.cumsum(self.is_tp).astype(np.int64)
        fp = np.cumsum(~self.is_tp).astype(np.int64)
        last = np.r_[self.scores[1:] != self.scores[:-1], True]  # the last prediction of each distinct score
        return self.scores[last], tp[last], fp[last]


@dataclass
class Evaluation:
    """Per-class and total counts of one evaluation at one IoU."""

    iou: float
    classes: Sequence[str]
    per_class: dict[int, Counts] = field(default_factory=dict)

    @property
    def total(self) -> Counts:
        return sum(self.per_class.values(), Counts())

    def as_dict(self) -> dict[str, object]:
        return {
            "iou": self.iou,
            "total": self.total.as_dict(),
            "per_class": {self.classes[c]: self.per_class[c].as_dict() for c in sorted(self.per_class)},
        }


def greedy_match(pred_boxes: list[Box], truth_boxes: list[Box], iou: float) -> list[bool]:
    """COCO's matching of predictions already in descending score order: one GT box each, best IoU first."""
    if not truth_boxes:
        return [False] * len(pred_boxes)
    if not pred_boxes:
        return []
    ious = box_iou(pred_boxes, truth_boxes)
    taken = np.zeros(len(truth_boxes), dtype=bool)
    out: list[bool] = []
    for row in ious:
        masked = np.where(taken, -1.0, row)
        best = int(np.argmax(masked))
        hit = bool(masked[best] >= iou - 1e-9)
        if hit:
            taken[best] = True
        out.append(hit)
    return out


def class_curves(
    predictions: Iterable[Scored],
    truths: Mapping[str, Sequence[tuple[int, Box]]],
    images: Iterable[str],
    n_classes: int,
    *,
    iou: float,
) -> dict[int, ClassCurve]:
    """Match every prediction on the evaluated `images` (GT per image: (class id, box)) and return each class's
    curve. A prediction on an image outside `images`, or with a class id out of range, is a ValueError."""
    image_set = set(images)
    by_key: dict[tuple[str, int], list[Scored]] = defaultdict(list)
    for pred in predictions:
        if pred.image not in image_set:
            raise ValueError(f"prediction on {pred.image!r}, which is not an evaluated image")
        if not 0 <= pred.class_id < n_classes:
            raise ValueError(f"prediction class id {pred.class_id} outside 0..{n_classes - 1}")
        by_key[(pred.image, pred.class_id)].append(pred)
    gt_by_key: dict[tuple[str, int], list[Box]] = defaultdict(list)
    for image in image_set:
        for class_id, box in truths.get(image, ()):
            gt_by_key[(image, class_id)].append(box)
    scores: dict[int, list[float]] = defaultdict(list)
    hits: dict[int, list[bool]] = defaultdict(list)
    for (image, class_id), preds in by_key.items():
        preds.sort(key=lambda p: -p.score)  # stable: ties keep input order, as COCO's mergesort does
        scores[class_id].extend(p.score for p in preds)
        hits[class_id].extend(greedy_match([p.box for p in preds], gt_by_key.get((image, class_id), []), iou))
    n_truth = defaultdict(int, dict.fromkeys(range(n_classes), 0))
    for (_, class_id), boxes in gt_by_key.items():
        n_truth[class_id] += len(boxes)
    curves: dict[int, ClassCurve] = {}
    for class_id in range(n_classes):
        s = np.asarray(scores[class_id], dtype=np.float64)
        h = np.asarray(hits[class_id], dtype=bool)
        order = np.argsort(-s, kind="stable")
        curves[class_id] = ClassCurve(s[order], h[order], n_truth[class_id])
    return curves


def evaluate_at(
    curves: Mapping[int, ClassCurve], classes: Sequence[str], thresholds: Mapping[int, float] | float, *, iou: float
) -> Evaluation:
    """Counts per class when each class keeps the predictions scored >= its threshold."""
    result = Evaluation(iou, classes)
    for class_id, curve in curves.items():
        thr = thresholds if isinstance(thresholds, float | int) else thresholds.get(class_id, 0.0)
        result.per_class[class_id] = curve.counts_at(float(thr))
    return result


def evaluate(
    predictions: Iterable[Scored],
    truths: Mapping[str, Sequence[tuple[int, Box]]],
    images: Iterable[str],
    classes: Sequence[str],
    *,
    iou: float = 0.5,
) -> Evaluation:
    """Per-class precision / recall / F1 of every prediction given (no score threshold) at `iou`."""
    curves = class_curves(predictions, truths, images, len(classes), iou=iou)
    return evaluate_at(curves, classes, float("-inf"), iou=iou)


def pooled(curves: Mapping[int, ClassCurve]) -> ClassCurve:
    """All classes' curves as one (micro-averaging; a single global threshold)."""
    scores = np.concatenate([c.scores for c in curves.values()]) if curves else np.zeros(0)
    hits = np.concatenate([c.is_tp for c in curves.values()]) if curves else np.zeros(0, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    return ClassCurve(scores[order], hits[order], sum(c.n_truth for c in curves.values()))


def pr_points(curves: Mapping[int, ClassCurve]) -> tuple[list[float], list[float], list[float]]:
    """Micro-averaged (thresholds, precision, recall) over all classes for one global threshold."""
    merged = pooled(curves)
    thr, tp, fp = merged.sweep()
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = tp / merged.n_truth if merged.n_truth else np.zeros_like(tp, dtype=np.float64)
    return thr.tolist(), precision.tolist(), recall.tolist()

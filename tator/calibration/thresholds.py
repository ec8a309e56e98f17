"""Per-class score thresholds that maximise F1 under a recall floor, chosen on the tune split only.

For each class the candidates' calibrated scores on the tune images are matched one-to-one to ground truth (the
evaluator's rule); every distinct score is a possible threshold. Among thresholds whose recall reaches the floor the
one with the best F1 wins; when none reaches it the best-F1 threshold is taken and the class is marked
`floor_met: false`. A class with no ground truth or no true positive on the tune split uses the global threshold
(the same rule applied to all classes pooled). A threshold sits halfway between the last kept and the first dropped
score, so a test score equal to neither is decided the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tator.calibration.evaluate import ClassCurve, pooled


@dataclass(frozen=True)
class Choice:
    """A chosen threshold and what it gave on the tune split."""

    threshold: float
    f1: float
    recall: float
    precision: float
    floor_met: bool
    source: str  # "class" (own curve) or "global" (pooled curve)

    def as_dict(self) -> dict[str, object]:
        return {
            "threshold": round(self.threshold, 6), "tune_f1": round(self.f1, 6), "tune_recall": round(self.recall, 6),
            "tune_precision": round(self.precision, 6), "floor_met": self.floor_met, "source": self.source,
        }  # fmt: skip


def best_threshold(curve: ClassCurve, *, recall_floor: float, source: str = "class") -> Choice | None:
    """The F1-best threshold of one curve under the recall floor; None when the curve has no true positive."""
    thr, tp, fp = curve.sweep()
    if curve.n_truth == 0 or len(thr) == 0 or int(tp[-1]) == 0:
        return None
    fn = curve.n_truth - tp
    f1 = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    recall = tp / curve.n_truth
    eligible = recall >= recall_floor - 1e-12
    floor_met = bool(eligible.any())
    masked = np.where(eligible, f1, -1.0) if floor_met else f1
    i = int(np.argmax(masked))  # first maximum: the highest threshold among ties
    below = float(thr[i + 1]) if i + 1 < len(thr) else 0.0
    precision = float(tp[i] / max(1, tp[i] + fp[i]))
    return Choice((float(thr[i]) + below) / 2, float(f1[i]), float(recall[i]), precision, floor_met, source)


def choose_thresholds(
    curves: Mapping[int, ClassCurve], *, recall_floor: float, per_class: bool = True
) -> dict[int, Choice]:
    """Class id -> chosen threshold (every class of `curves` gets one)."""
    global_choice = best_threshold(pooled(curves), recall_floor=recall_floor, source="global")
    if global_choice is None:
        global_choice = Choice(0.5, 0.0, 0.0, 0.0, False, "global")
    chosen: dict[int, Choice] = {}
    for class_id, curve in curves.items():
        own = best_threshold(curve, recall_floor=recall_floor) if per_class else None
        chosen[class_id] = own or global_choice
    return chosen

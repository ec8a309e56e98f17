"""Held-out metrics of a head: accuracy (and the majority-class baseline it must beat), per-class
precision/recall/F1/support, the sklearn classification report and the confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tator.clip.head import is_background


def evaluate(proba: np.ndarray, y_true: np.ndarray, classes: Sequence[str], y_train: np.ndarray) -> dict[str, Any]:
    """Metrics of predictions `proba [N, K]` against `y_true` (indices into `classes`)."""
    from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support

    labels = list(range(len(classes)))
    if len(y_true) == 0:
        return {"evaluated": False, "accuracy": None, "label_order": list(classes)}
    y_pred = proba.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    majority = int(np.bincount(y_train, minlength=len(classes)).argmax()) if len(y_train) else 0
    foreground = np.asarray([not is_background(classes[i]) for i in y_true])
    per_class = {
        name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
               "support": int(support[i])}
        for i, name in enumerate(classes)
    }  # fmt: skip
    report = classification_report(
        y_true, y_pred, labels=labels, target_names=list(classes), output_dict=True, zero_division=0
    )
    return {
        "evaluated": True,
        "accuracy": float((y_pred == y_true).mean()),
        "majority_baseline_accuracy": float((y_true == majority).mean()),
        "majority_class": classes[majority],
        "foreground_accuracy": float((y_pred[foreground] == y_true[foreground]).mean()) if foreground.any() else None,
        "macro_f1": float(np.mean([f1[i] for i in labels if support[i] > 0])) if support.sum() else 0.0,
        "per_class_metrics": per_class,
        "classification_report": report,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "label_order": list(classes),
    }

"""Fitting heads on embeddings: the split by image, class weights, logistic regression and an MLP.

Both heads come out as dense layers `(weight [out, in], bias [out])` for `tator.clip.head`. Training loops
check the cancel token between chunks of solver iterations (logreg) or between epochs (MLP) and report a
convergence trace through `on_step(step, values)`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tator.jobs.context import CancelToken

log = logging.getLogger(__name__)

Layers = list[tuple[np.ndarray, np.ndarray]]
StepReport = Callable[[int, dict[str, float]], None]
EFFECTIVE_BETA = 0.9999
SPLIT_RETRIES = 10


@dataclass
class FitResult:
    layers: Layers
    activation: str
    iterations_run: int
    converged: bool
    trace: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class Split:
    train: np.ndarray
    test: np.ndarray
    mode: str  # by_image | by_row | none


def split_by_image(labels: np.ndarray, groups: np.ndarray, *, test_size: float, seed: int) -> Split:
    """Hold out whole images (`test_size` of them); retry seeds until every class is in train, else fall
    back to a stratified row split; with fewer than two images (or test_size 0) nothing is held out."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedShuffleSplit

    everything = np.arange(len(labels))
    if test_size <= 0 or len(np.unique(groups)) < 2:
        return Split(everything, everything[:0], "none")
    classes = set(labels.tolist())
    for attempt in range(SPLIT_RETRIES):
        splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed + attempt)
        train, test = next(splitter.split(everything, labels, groups))
        if set(labels[train].tolist()) == classes and len(test):
            return Split(train, test, "by_image")
    counts = np.bincount(labels - labels.min())
    if counts[counts > 0].min() >= 2 and len(labels) * test_size >= len(classes):
        rows = StratifiedShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
        train, test = next(rows.split(everything, labels))
        log.warning("clip.split_fallback mode=by_row classes=%d", len(classes))
        return Split(train, test, "by_row")
    return Split(everything, everything[:0], "none")


def sample_weights(labels: np.ndarray, n_classes: int, mode: str) -> np.ndarray:
    """Per-row weights: `balanced` (n / (k * count)), `effective` (effective number, beta 0.9999) or `none`."""
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    if mode == "balanced":
        per_class = np.where(present, len(labels) / (present.sum() * np.maximum(counts, 1)), 0.0)
    elif mode == "effective":
        effective = (1.0 - np.power(EFFECTIVE_BETA, counts)) / (1.0 - EFFECTIVE_BETA)
        per_class = np.where(present, 1.0 / np.maximum(effective, 1e-12), 0.0)
        per_class = per_class * present.sum() / per_class[present].sum()
    else:
        per_class = np.ones(n_classes)
    return np.asarray(per_class[labels], dtype=np.float64)


def fit_logreg(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    *,
    n_classes: int,
    c: float,
    solver: str,
    max_iter: int,
    cancel: CancelToken,
    on_step: StepReport | None = None,
) -> FitResult:
    """Multinomial logistic regression fitted in warm-started chunks (cancellable, traced)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    # lbfgs restarts its curvature memory on each warm start, so chunks stay at least 20 iterations long.
    chunk = max_iter if solver == "liblinear" else min(max_iter, max(20, max_iter // 20))
    model = LogisticRegression(C=c, solver=solver, max_iter=chunk, warm_start=solver != "liblinear")
    trace: list[dict[str, float]] = []
    total, converged = 0, False
    while total < max_iter and not converged:
        cancel.raise_if_cancelled()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y, sample_weight=weights)
        ran = int(np.max(model.n_iter_))
        total += ran
        converged = ran < chunk or solver == "liblinear"
        proba = model.predict_proba(x)
        values = {"train_loss": float(log_loss(y, proba, labels=model.classes_)),
                  "train_accuracy": float((model.classes_[proba.argmax(1)] == y).mean())}  # fmt: skip
        trace.append({"iteration": float(total), **values})
        if on_step is not None:
            on_step(total, values)
    return FitResult(_logreg_layers(model, n_classes), "none", total, converged, trace)


def _logreg_layers(model: Any, n_classes: int) -> Layers:
    """Dense weights for all `n_classes` (a class missing from training gets a very low bias)."""
    coef = np.asarray(model.coef_, dtype=np.float32)
    intercept = np.asarray(model.intercept_, dtype=np.float32)
    if coef.shape[0] == 1:  # binary: sigmoid(z) == softmax([-z/2, z/2])
        coef, intercept = np.concatenate([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    weight = np.zeros((n_classes, coef.shape[1]), dtype=np.float32)
    bias = np.full(n_classes, -1e4, dtype=np.float32)
    for row, cls in enumerate(np.asarray(model.classes_, dtype=np.int64)):
        weight[cls], bias[cls] = coef[row], intercept[row]
    return [(weight, bias)]

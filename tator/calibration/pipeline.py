"""Calibration end to end on candidates with ground truth: split -> features -> labels -> model -> thresholds ->
evaluation, with the baselines it must beat.

Split by image into train / tune / test (seeded). The model is fitted on train and early-stopped on tune;
thresholds are chosen on tune; every reported figure is on test, at `eval_iou`, with the evaluator's strict
counting. Baselines get the same treatment (per-class thresholds tuned on tune, reported on test): each source
alone, the union of all candidates with their prepass score, and the untuned union (every candidate kept, whose
recall is the candidate pool's recall ceiling). Ablation retrains without one source at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tator.calibration.calibrator import Calibrator, info_block
from tator.calibration.evaluate import ClassCurve, Evaluation, Scored, class_curves, evaluate_at, pr_points
from tator.calibration.features import FeatureSpec, build_matrix, labels, spec_for
from tator.calibration.models import ModelOptions, train
from tator.calibration.samples import ImageSample, Split, split_images
from tator.calibration.thresholds import Choice, choose_thresholds
from tator.errors import CalibrationCandidatesUnusable

Scores = list[np.ndarray[Any, np.dtype[np.float64]]]
Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class CalibrationOptions:
    """IoUs, the recall floor, split fractions and the model's options."""

    model: ModelOptions = field(default_factory=ModelOptions)
    label_iou: float = 0.5
    eval_iou: float = 0.5
    recall_floor: float = 0.6
    per_class: bool = True
    seed: int = 42
    tune_fraction: float = 0.2
    test_fraction: float = 0.2
    ablation: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.kind, "label_iou": self.label_iou, "eval_iou": self.eval_iou,
            "recall_floor": self.recall_floor, "per_class": self.per_class, "seed": self.seed,
            "tune_fraction": self.tune_fraction, "test_fraction": self.test_fraction,
        }  # fmt: skip


@dataclass
class Tuned:
    """Thresholds chosen on tune and the test split's evaluation with them."""

    choices: dict[int, Choice]
    test: Evaluation
    test_curves: dict[int, ClassCurve]

    def summary(self) -> dict[str, Any]:
        return self.test.as_dict()["total"]  # type: ignore[return-value]


@dataclass
class Fitted:
    calibrator: Calibrator
    split: Split
    tuned: Tuned
    rows: dict[str, int]


def _curves(samples: Sequence[ImageSample], scores: Scores, n_classes: int, iou: float) -> dict[int, ClassCurve]:
    preds = [
        Scored(s.image, c.class_id, c.box, float(p))
        for s, per in zip(samples, scores, strict=True)
        for c, p in zip(s.candidates, per, strict=True)
    ]
    truths = {s.image: s.truths for s in samples}
    return class_curves(preds, truths, [s.image for s in samples], n_classes, iou=iou)


def tune_and_test(
    parts: tuple[Sequence[ImageSample], Sequence[ImageSample]],
    scores: tuple[Scores, Scores],
    classes: Sequence[str],
    options: CalibrationOptions,
) -> Tuned:
    """Choose per-class thresholds on the tune part's scores, then evaluate the test part with them."""
    tune_curves = _curves(parts[0], scores[0], len(classes), options.eval_iou)
    choices = choose_thresholds(tune_curves, recall_floor=options.recall_floor, per_class=options.per_class)
    test_curves = _curves(parts[1], scores[1], len(classes), options.eval_iou)
    test = evaluate_at(test_curves, classes, {c: ch.threshold for c, ch in choices.items()}, iou=options.eval_iou)
    return Tuned(choices, test, test_curves)


def _parts(samples: Sequence[ImageSample], split: Split) -> tuple[list[ImageSample], ...]:
    by_key = {s.image: s for s in samples}
    return tuple([by_key[k] for k in keys] for keys in (split.train, split.tune, split.test))


def fit(samples: Sequence[ImageSample], classes: Sequence[str], options: CalibrationOptions) -> Fitted:
    """Train a calibrator on the train split, early-stop and tune thresholds on tune, evaluate on test."""
    split = split_images([s.image for s in samples], seed=options.seed, tune=options.tune_fraction,
                         test=options.test_fraction)  # fmt: skip
    train_part, tune_part, test_part = _parts(samples, split)
    spec = spec_for(samples, classes)
    x_train, _ = build_matrix(spec, train_part)
    x_tune, _ = build_matrix(spec, tune_part)
    y_train = labels(train_part, len(classes), label_iou=options.label_iou)
    y_tune = labels(tune_part, len(classes), label_iou=options.label_iou)
    if len(np.unique(y_train)) < 2:
        raise CalibrationCandidatesUnusable(
            f"the train split's {len(y_train)} candidates need both true and false ones at IoU {options.label_iou}",
            candidates=len(y_train), positives=int(y_train.sum()),
        )  # fmt: skip
    model = train(x_train, y_train, x_tune, y_tune, options.model)
    calibrator = Calibrator(spec, model, {}, {})
    tuned = tune_and_test((tune_part, test_part), (calibrator.scores(tune_part), calibrator.scores(test_part)),
                          classes, options)  # fmt: skip
    calibrator.thresholds = {c: ch.threshold for c, ch in tuned.choices.items() if ch.source == "class"}
    global_thr = next((ch.threshold for ch in tuned.choices.values() if ch.source == "global"), None)
    if global_thr is None:
        global_thr = float(np.median([ch.threshold for ch in tuned.choices.values()])) if tuned.choices else 0.5
    calibrator.info = info_block(global_thr, options.as_dict())
    rows = {"train": len(y_train), "train_positive": int(y_train.sum()), "tune": len(y_tune),
            "tune_positive": int(y_tune.sum())}  # fmt: skip
    return Fitted(calibrator, split, tuned, rows)


def raw_scores(samples: Sequence[ImageSample], source: str | None = None) -> tuple[list[ImageSample], Scores]:
    """Samples restricted to the candidates `source` proposed (all when None) and their uncalibrated score:
    that source's score, or the candidate's prepass score."""
    kept: list[ImageSample] = []
    scores: Scores = []
    for s in samples:
        cands = [c for c in s.candidates if source is None or source in c.score_by_source]
        kept.append(replace(s, candidates=cands))
        scores.append(np.asarray([c.score if source is None else c.score_by_source[source] for c in cands]))
    return kept, scores


def baseline(
    parts: tuple[Sequence[ImageSample], Sequence[ImageSample]],
    classes: Sequence[str],
    options: CalibrationOptions,
    source: str | None = None,
) -> Tuned:
    """A source alone (or the union when None) with per-class thresholds tuned on tune, evaluated on test."""
    tune_s, tune_scores = raw_scores(parts[0], source)
    test_s, test_scores = raw_scores(parts[1], source)
    return tune_and_test((tune_s, test_s), (tune_scores, test_scores), classes, options)


def without_source(samples: Sequence[ImageSample], source: str) -> list[ImageSample]:
    """The candidate pool as if `source` had not run: its scores removed, boxes only it proposed dropped."""
    out: list[ImageSample] = []
    for s in samples:
        cands = []
        for c in s.candidates:
            rest = {k: v for k, v in c.score_by_source.items() if k != source}
            if rest:
                cands.append(replace(c, score_by_source=rest, score=max(rest.values())))
        out.append(replace(s, candidates=cands))
    return out


def evaluate_pool(
    samples: Sequence[ImageSample], classes: Sequence[str], options: CalibrationOptions, progress: Progress
) -> tuple[Fitted, dict[str, Any]]:
    """Fit the calibrator and measure everything the report shows (all on the test split)."""
    fitted = fit(samples, classes, options)
    progress(0.6, "baselines")
    _, tune_part, test_part = _parts(samples, fitted.split)
    spec: FeatureSpec = fitted.calibrator.spec
    sources = {s: baseline((tune_part, test_part), classes, options, s) for s in spec.sources}
    union_tuned = baseline((tune_part, test_part), classes, options)
    union_all = evaluate_at(union_tuned.test_curves, classes, float("-inf"), iou=options.eval_iou)
    ablation: dict[str, Any] = {}
    if options.ablation and len(spec.sources) > 1:
        for n, source in enumerate(spec.sources):
            progress(0.7 + 0.2 * n / len(spec.sources), f"ablation without {source}")
            try:
                ablation[source] = fit(without_source(samples, source), classes, options).tuned.summary()
            except CalibrationCandidatesUnusable as exc:  # e.g. no true candidate left without this source
                ablation[source] = {"error": exc.message}
    curve = pr_points(fitted.tuned.test_curves)
    model = fitted.calibrator.model
    figures = {
        "calibrated": fitted.tuned, "sources": sources, "union_tuned": union_tuned, "union_all": union_all,
        "ablation": ablation, "pr_curve": curve, "training_curve": model.curve,
        "best_round": model.meta.get("best_iteration", model.meta.get("best_epoch")),
    }  # fmt: skip
    return fitted, figures


def source_pr_points(tuned: Mapping[str, Tuned]) -> dict[str, tuple[list[float], list[float], list[float]]]:
    """Each baseline's micro PR curve on test (for the plot)."""
    return {name: pr_points(t.test_curves) for name, t in tuned.items()}

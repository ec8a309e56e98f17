"""Candidate features and training labels.

Features come only from what exists at inference for a new image: each source's score and presence, agreement
between sources, geometry, the classifier head's verdict and the image's other candidates. Nothing is derived from
ground truth (the reference's GT-derived geometry priors were label leakage and train/serve skew). The feature
names (the spec) are stored with the calibrator so that scoring builds the same columns.

Labels are one-to-one: per image and class the candidates, highest score first, are greedily matched to ground
truth at `label_iou` exactly as the evaluator matches them, so a duplicate of an already-claimed box is a negative
(the reference labelled every overlapping duplicate positive while its evaluator counted duplicates as errors).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tator.calibration.evaluate import greedy_match
from tator.calibration.samples import CandidateBox, ImageSample
from tator.vision.boxes import box_iou

FEATURE_VERSION = 1
Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FeatureSpec:
    """The columns of the feature matrix: fixed blocks plus one per source and one per class."""

    sources: tuple[str, ...]
    classes: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        per_source = [f"{kind}::{s}" for s in self.sources for kind in ("score", "has")]
        base = [
            "score", "score_max", "score_mean", "score_min_present", "source_count", "source_fraction",
            "atom_count_log", "clf_prob", "clf_present", "clf_agrees",
            "cx", "cy", "w", "h", "log_area", "log_aspect",
            "ctx_count_log", "ctx_same_count_log", "ctx_rank_same", "ctx_max_iou_same", "ctx_max_iou_other",
            "ctx_other_score",
        ]  # fmt: skip
        return per_source + base + [f"class::{c}" for c in self.classes]

    def as_dict(self) -> dict[str, object]:
        return {"version": FEATURE_VERSION, "sources": list(self.sources), "classes": list(self.classes)}


def spec_for(samples: Sequence[ImageSample], classes: Sequence[str]) -> FeatureSpec:
    """The spec of a candidate pool: every source seen, in a stable order."""
    sources = sorted({s for sample in samples for c in sample.candidates for s in c.score_by_source})
    return FeatureSpec(tuple(sources), tuple(classes))


def _context(cands: Sequence[CandidateBox]) -> tuple[Matrix, Matrix, Matrix, Matrix]:
    """Per candidate: max IoU with another same-class / other-class candidate, best overlapping other-class
    score, and its score rank among its class on the image (0 = best)."""
    n = len(cands)
    boxes = [c.box for c in cands]
    ious = box_iou(boxes, boxes)
    np.fill_diagonal(ious, 0.0)
    cls = np.asarray([c.class_id for c in cands])
    scores = np.asarray([c.score for c in cands], dtype=np.float32)
    same = cls[:, None] == cls[None, :]
    max_same = np.where(same, ious, 0.0).max(axis=1) if n else np.zeros(0)
    max_other = np.where(~same, ious, 0.0).max(axis=1) if n else np.zeros(0)
    other_score = np.where(~same & (ious >= 0.5), scores[None, :], 0.0).max(axis=1) if n else np.zeros(0)
    rank = np.zeros(n, dtype=np.float32)
    for class_id in set(cls.tolist()):
        idx = np.flatnonzero(cls == class_id)
        order = idx[np.argsort(-scores[idx], kind="stable")]
        rank[order] = np.arange(len(order)) / max(1, len(order) - 1) if len(order) > 1 else 0.0
    return (max_same.astype(np.float32), max_other.astype(np.float32), other_score.astype(np.float32), rank)


def image_features(spec: FeatureSpec, sample: ImageSample) -> Matrix:
    """One row per candidate of the image, columns as `spec.names`."""
    cands = sample.candidates
    width = len(spec.names)
    if not cands:
        return np.zeros((0, width), dtype=np.float32)
    max_same, max_other, other_score, rank = _context(cands)
    counts = np.bincount([c.class_id for c in cands], minlength=len(spec.classes))
    w_img, h_img = max(1, sample.width), max(1, sample.height)
    rows = np.zeros((len(cands), width), dtype=np.float32)
    n_sources = max(1, len(spec.sources))
    for i, cand in enumerate(cands):
        present = [cand.score_by_source[s] for s in spec.sources if s in cand.score_by_source]
        x1, y1, x2, y2 = cand.box
        bw, bh = max(x2 - x1, 1e-3), max(y2 - y1, 1e-3)
        per_source = [
            v for s in spec.sources for v in (cand.score_by_source.get(s, 0.0), float(s in cand.score_by_source))
        ]
        base = [
            cand.score, max(present, default=0.0), float(np.mean(present)) if present else 0.0,
            min(present, default=0.0), len(present), len(present) / n_sources, math.log1p(cand.atom_count),
            cand.classifier_prob or 0.0, float(cand.classifier_prob is not None), float(bool(cand.classifier_agrees)),
            (x1 + x2) / 2 / w_img, (y1 + y2) / 2 / h_img, bw / w_img, bh / h_img,
            math.log(bw * bh / (w_img * h_img)), math.log(bw / bh),
            math.log1p(len(cands)), math.log1p(int(counts[cand.class_id]) - 1), rank[i], max_same[i], max_other[i],
            other_score[i],
        ]  # fmt: skip
        one_hot = [float(cand.class_id == k) for k in range(len(spec.classes))]
        rows[i] = per_source + base + one_hot
    return rows


def build_matrix(spec: FeatureSpec, samples: Sequence[ImageSample]) -> tuple[Matrix, npt.NDArray[np.int64]]:
    """Stacked features of every candidate and, per row, the index of its sample in `samples`."""
    blocks = [image_features(spec, s) for s in samples]
    owners = [np.full(len(b), n, dtype=np.int64) for n, b in enumerate(blocks)]
    if not blocks:
        return np.zeros((0, len(spec.names)), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.concatenate(blocks), np.concatenate(owners)


def labels(samples: Sequence[ImageSample], n_classes: int, *, label_iou: float) -> npt.NDArray[np.int64]:
    """1 for a candidate that is the one-to-one match of a ground-truth box at `label_iou`, else 0 (row order
    as `build_matrix`)."""
    out: list[int] = []
    for sample in samples:
        hit = [0] * len(sample.candidates)
        for class_id in range(n_classes):
            idx = [n for n, c in enumerate(sample.candidates) if c.class_id == class_id]
            idx.sort(key=lambda n: -sample.candidates[n].score)
            gt = [box for cid, box in sample.truths if cid == class_id]
            matched = greedy_match([sample.candidates[n].box for n in idx], gt, label_iou)
            for n, ok in zip(idx, matched, strict=True):
                hit[n] = int(ok)
        out.extend(hit)
    return np.asarray(out, dtype=np.int64)

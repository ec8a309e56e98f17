"""A synthetic candidate pool whose truth is known, for tests and the calibration benchmark.

Ground-truth boxes are drawn per image (some images have none); three sources then propose boxes with controlled
noise, the way the real ones behave:
- `detector`: tight boxes and confident scores, misses some objects and confuses two classes (car <-> truck);
- `sam3_text`: finds almost everything but with looser boxes, many false positives and weakly informative scores;
- `similarity`: lower recall, scores that track the truth.
The proposals go through the prepass dedupe (same-class IoU merge at 0.75, per-source scores kept), so loose boxes
that do not merge stay as duplicates, as they do in a real prepass. A classifier-head probability is then attached
to every candidate (high when its label matches the object under it). Boxes are pixel xyxy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tator.calibration.evaluate import Box
from tator.calibration.samples import CandidateBox, ImageSample, candidates_from_records
from tator.prepass.candidates import Candidate, make_atoms
from tator.prepass.dedupe import merge_candidates
from tator.vision.boxes import box_iou

CLASSES: tuple[str, ...] = ("car", "truck", "tank")
WIDTH, HEIGHT = 640, 480


@dataclass(frozen=True)
class SourceNoise:
    """How one source behaves: recall, box jitter (fraction of the box size), class confusion, false positives
    per image and the Beta parameters of its scores on true objects and on false positives."""

    name: str
    recall: float
    jitter: float
    confusion: float
    fp_per_image: float
    tp_beta: tuple[float, float]
    fp_beta: tuple[float, float]


SOURCES: tuple[SourceNoise, ...] = (
    SourceNoise("detector", 0.80, 0.04, 0.18, 0.4, (6.0, 2.0), (2.0, 3.0)),
    SourceNoise("sam3_text", 0.95, 0.14, 0.05, 3.0, (3.0, 2.5), (2.0, 2.5)),
    SourceNoise("similarity", 0.60, 0.08, 0.02, 1.0, (5.0, 2.0), (2.0, 4.0)),
)


def _truth(rng: np.random.Generator) -> list[tuple[int, Box]]:
    out: list[tuple[int, Box]] = []
    n = 0 if rng.random() < 0.15 else int(rng.integers(1, 7))
    for _ in range(n):
        w, h = rng.uniform(30, 120), rng.uniform(30, 120)
        x, y = rng.uniform(0, WIDTH - w), rng.uniform(0, HEIGHT - h)
        out.append((int(rng.integers(0, len(CLASSES))), (x, y, x + w, y + h)))
    return out


def _jitter(rng: np.random.Generator, box: Box, amount: float, size: tuple[int, int]) -> Box:
    w, h = box[2] - box[0], box[3] - box[1]
    d = rng.normal(0, amount, 4) * np.array([w, h, w, h])
    x1, y1 = max(0.0, box[0] + d[0]), max(0.0, box[1] + d[1])
    return (x1, y1, max(x1 + 1, min(size[0], box[2] + d[2])), max(y1 + 1, min(size[1], box[3] + d[3])))


def _confused(rng: np.random.Generator, class_id: int, rate: float) -> int:
    if rng.random() >= rate:
        return class_id
    return {0: 1, 1: 0}.get(class_id, int(rng.integers(0, len(CLASSES))))


def _atoms(
    rng: np.random.Generator, truths: list[tuple[int, Box]], src: SourceNoise, size: tuple[int, int]
) -> list[Candidate]:
    boxes: list[Box] = []
    scores: list[float] = []
    labels: list[int] = []
    for class_id, box in truths:
        if rng.random() < src.recall:
            label = _confused(rng, class_id, src.confusion)
            scores.append(float(rng.beta(*src.tp_beta)) * (0.7 if label != class_id else 1.0))
            boxes.append(_jitter(rng, box, src.jitter, size))
            labels.append(label)
    for _ in range(int(rng.poisson(src.fp_per_image))):
        w, h = rng.uniform(0.04, 0.25) * size[0], rng.uniform(0.04, 0.25) * size[1]
        x, y = rng.uniform(0, size[0] - w), rng.uniform(0, size[1] - h)
        boxes.append((x, y, x + w, y + h))
        scores.append(float(rng.beta(*src.fp_beta)))
        labels.append(int(rng.integers(0, len(CLASSES))))
    return make_atoms(boxes, scores, labels, CLASSES, source=src.name, run_id=f"{src.name}:full")


def _with_classifier(rng: np.random.Generator, cand: CandidateBox, truths: list[tuple[int, Box]]) -> CandidateBox:
    """The classifier head's verdict on the merged box: confident when its label matches the object under it."""
    same = [box for cid, box in truths if cid == cand.class_id]
    right = bool(same) and float(box_iou([cand.box], same).max()) >= 0.5
    prob = float(rng.beta(4, 2.5) if right else rng.beta(2.5, 4))
    return replace(cand, classifier_prob=prob, classifier_agrees=right == bool(rng.random() < 0.75))


def make_candidates(
    rng: np.random.Generator, truths: list[tuple[int, Box]], size: tuple[int, int] = (WIDTH, HEIGHT)
) -> list[CandidateBox]:
    """Every source's noisy proposals of `truths` (class id, pixel box) in an image of `size` (width, height),
    after the prepass dedupe, with a classifier verdict."""
    atoms = [atom for src in SOURCES for atom in _atoms(rng, truths, src, size)]
    merged = candidates_from_records([c.model_dump() for c in merge_candidates(atoms)], CLASSES)
    return [_with_classifier(rng, c, truths) for c in merged]


def candidate_record(cand: CandidateBox, classes: tuple[str, ...] = CLASSES) -> dict[str, object]:
    """A candidate as a prepass cache record (the fields `samples.candidate_from_record` reads)."""
    label = classes[cand.class_id]
    best = label if cand.classifier_agrees else classes[(cand.class_id + 1) % len(classes)]
    return {"box": list(cand.box), "label": label, "class_id": cand.class_id, "score": cand.score,
            "score_by_source": dict(cand.score_by_source), "atom_ids": [f"a{n}" for n in range(cand.atom_count)],
            "classifier_prob": cand.classifier_prob, "classifier_best": best}  # fmt: skip


def make_image(rng: np.random.Generator, key: str) -> ImageSample:
    """One synthetic image: ground truth and every source's proposals after the prepass dedupe."""
    truths = _truth(rng)
    return ImageSample(key, WIDTH, HEIGHT, make_candidates(rng, truths), truths)


def make_pool(n_images: int, *, seed: int = 0) -> list[ImageSample]:
    """`n_images` synthetic images, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return [make_image(rng, f"images/{n:05d}.png") for n in range(n_images)]

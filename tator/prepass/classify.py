"""Prepass classifier scores: the classifier head's probability of each candidate's class on its crop.

`classifier_prob` is P(candidate's class) (None when the head does not know the class), `classifier_best`
the head's top class. With `classifier_min_prob` set, candidates below it are dropped (a gate); by default
every candidate is kept with its scores (what calibration wants).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from tator.annotations import BBox
from tator.clip.embed import embed_boxes
from tator.clip.head import ClassifierHead, load_head
from tator.datasets.labels import normalise_label
from tator.prepass.candidates import Candidate
from tator.prepass.config import PrepassConfig
from tator.prepass.models import ClassifierRef, ModelAccess
from tator.prepass.trace import Trace
from tator.vision.detection import Pixels


def _probabilities(
    models: ModelAccess, ref: ClassifierRef, head: ClassifierHead, pixels: Pixels, boxes: list[BBox], trace: Trace
) -> np.ndarray:
    image = Image.fromarray(pixels, mode="RGB")
    with models.use(ref.backbone.spec(), exclusive=False) as handle, trace.model_call():
        embeddings = embed_boxes(handle, image, boxes, padding=ref.padding)
        return np.asarray(head.predict_proba(embeddings, logit_adjustment=ref.logit_adjustment), dtype=np.float64)


def score_candidates(
    models: ModelAccess, ref: ClassifierRef, pixels: Pixels, candidates: Sequence[Candidate],
    config: PrepassConfig, trace: Trace,
) -> list[Candidate]:  # fmt: skip
    """Candidates with classifier_prob/classifier_best set (and gated when the config asks)."""
    height, width = pixels.shape[:2]
    with trace.step("classifier", head=Path(ref.head_path).name) as step:
        head = load_head(Path(ref.head_path))
        index = {normalise_label(name): i for i, name in enumerate(head.classes)}
        boxes = [
            BBox(max(0.0, c.box[0]), max(0.0, c.box[1]), min(float(width), max(c.box[2], c.box[0] + 1)),
                 min(float(height), max(c.box[3], c.box[1] + 1)))
            for c in candidates
        ]  # fmt: skip
        proba = _probabilities(models, ref, head, pixels, boxes, trace) if boxes else np.zeros((0, len(head.classes)))
        scored: list[Candidate] = []
        for row, candidate in zip(proba, candidates, strict=True):
            column = index.get(normalise_label(candidate.label))
            prob = round(float(row[column]), 6) if column is not None else None
            best = head.classes[int(np.argmax(row))]
            if config.classifier_min_prob is not None and (prob is None or prob < config.classifier_min_prob):
                continue
            scored.append(candidate.model_copy(update={"classifier_prob": prob, "classifier_best": best}))
        unknown = sum(1 for c in candidates if normalise_label(c.label) not in index)
        step["summary"] = f"classifier: {len(candidates)} crops scored, {len(scored)} kept"
        step["counts"] = {"crops": len(candidates), "kept": len(scored), "class_unknown_to_head": unknown}
    return scored

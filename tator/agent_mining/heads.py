"""The classifier-head filter of a recipe: probabilities of each detection's crop under a head from the
classifier store, the keep rule (class probability >= min_prob and ahead of every other class by >=
margin), and tuning (min_prob, margin) to a target precision.

A head is named by its path relative to the classifier store and is only ever read from there (the path
guard of `tator.clip.library`); its backbone is the one its metadata names.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

from tator.agent_mining.recipe import HeadFilter
from tator.annotations import BBox
from tator.clip.active import ClipPlaces, head_backbone
from tator.clip.embed import DEFAULT_PADDING, embed_boxes
from tator.clip.head import ClassifierHead, is_background, load_head
from tator.clip.library import rel_path, resolve_classifier
from tator.datasets.labels import normalise_label
from tator.errors import (
    AgentClipClassifierPathNotAllowed,
    AgentMiningClipHeadRequired,
    ClassifierPathNotAllowed,
    TatorError,
)

MIN_PROB_GRID = tuple(round(0.05 * i, 2) for i in range(20))
MARGIN_GRID = (0.0, 0.05, 0.1, 0.2, 0.3)


class HeadRef(BaseModel):
    """A head from the store and the backbone it embeds with (resolved on the server, loaded by the job)."""

    classifier_path: str = Field(description="Path relative to the classifier store.")
    encoder_family: str
    encoder_source: str
    padding: float = DEFAULT_PADDING


def resolve_head(places: ClipPlaces, value: str) -> tuple[Path, ClassifierHead, HeadRef]:
    """Check and load a head named by the client; errors are the mining contract's codes."""
    try:
        path = resolve_classifier(places.classifiers, value)
    except ClassifierPathNotAllowed as exc:
        raise AgentClipClassifierPathNotAllowed("the head must be a file in the classifier store") from exc
    except TatorError as exc:
        raise AgentMiningClipHeadRequired(f"the head {value!r} cannot be used: {exc.message}") from exc
    try:
        head = load_head(path)
        backbone = head_backbone(head, places)
    except TatorError as exc:
        raise AgentMiningClipHeadRequired(f"the head {value!r} cannot be used: {exc.message}") from exc
    padding = float(head.meta.get("crop_padding", DEFAULT_PADDING))
    ref = HeadRef(classifier_path=rel_path(places.classifiers, path), encoder_family=backbone.encoder_type,
                  encoder_source=backbone.source, padding=padding)  # fmt: skip
    return path, head, ref


def class_index(head: ClassifierHead, class_name: str) -> int | None:
    """Where `class_name` is among the head's classes (labels compared normalised), or None."""
    wanted = normalise_label(class_name)
    for index, name in enumerate(head.classes):
        if not is_background(name) and normalise_label(name) == wanted:
            return index
    return None


def probabilities(encoder: Any, head: ClassifierHead, image: Image.Image, boxes: Sequence[BBox], padding: float) -> Any:
    """Softmax over the head's classes for each box's crop (rows follow `boxes`)."""
    if not boxes:
        return np.zeros((0, len(head.classes)), dtype=np.float32)
    return head.predict_proba(embed_boxes(encoder, image, list(boxes), padding=padding))


def margins(proba: Any, index: int) -> Any:
    """Probability of class `index` minus the best other class, per row."""
    if proba.shape[1] < 2:
        return proba[:, index]
    others = np.delete(proba, index, axis=1)
    return proba[:, index] - others.max(axis=1)


def keep(proba: Any, index: int, classes: Sequence[str], gate: HeadFilter) -> Any:
    """Rows the filter keeps: class probability >= min_prob, its lead over every other class >= margin and,
    with a background margin, over every background class >= background_margin."""
    kept = (proba[:, index] >= gate.min_prob) & (margins(proba, index) >= gate.margin)
    background = [i for i, name in enumerate(classes) if is_background(name)]
    if gate.background_margin > 0 and background:
        kept &= proba[:, index] - proba[:, background].max(axis=1) >= gate.background_margin
    return kept


def tune(
    rows: Sequence[tuple[float, float, Hashable | None]], *, gt_total: int, target_precision: float
) -> Mapping[str, Any]:
    """Best (min_prob, margin) over the grid for rows (class probability, margin, matched gt or None): the
    most matched gts at >= target precision, else the most precise; fewer false positives break ties."""
    best: tuple[Any, ...] | None = None
    for min_prob in MIN_PROB_GRID:
        for margin in MARGIN_GRID:
            kept = [m for p, d, m in rows if p >= min_prob and d >= margin]
            matched = len({m for m in kept if m is not None})
            fps = sum(1 for m in kept if m is None)
            precision = matched / (matched + fps) if matched + fps else 0.0
            rank = (precision >= target_precision, matched if precision >= target_precision else precision, -fps)
            if best is None or rank > best[0]:
                best = (rank, min_prob, margin, matched, fps, precision)
    assert best is not None
    _, min_prob, margin, matched, fps, precision = best
    return {"min_prob": min_prob, "margin": margin, "matches": matched, "fps": fps,
            "precision": round(precision, 4), "recall": round(matched / gt_total, 4) if gt_total else 0.0,
            "target_met": precision >= target_precision}  # fmt: skip

"""Merging the outputs of a cascade's steps (`apply_image_chain`): optional rescoring by a head, de-duplication
per output class (always), then optionally across classes inside a dedupe group or globally (steps that opt
out are exempt). Pure: boxes in, boxes out; the answer keeps each detection's original SAM3 score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tator.agent_mining.execute import Found, dedupe

Confidence = Literal["sam_score", "clip_head_prob", "clip_head_margin"]


@dataclass(frozen=True)
class Applied:
    """A recipe's detection with its output class and, when a head scored it, the head's view."""

    found: Found
    class_id: int | None
    class_name: str | None
    head_prob: float | None = None
    head_margin: float | None = None
    group: str = ""  # the step's dedupe group
    cross_class: bool = True  # whether the step takes part in cross-class de-duplication


@dataclass(frozen=True)
class ChainDedupe:
    per_class_iou: float = 0.5
    cross_class_enabled: bool = False
    cross_class_iou: float = 0.5
    cross_class_scope: Literal["groups", "global"] = "groups"
    confidence: Confidence = "sam_score"


def class_key(item: Applied) -> str:
    return item.class_name if item.class_name is not None else f"#{item.class_id}"


def _confidence(item: Applied, mode: Confidence) -> float | None:
    if mode == "clip_head_prob":
        return item.head_prob
    if mode == "clip_head_margin":
        return item.head_margin
    return item.found.score


def _ranked(items: Sequence[Applied], mode: Confidence) -> tuple[list[Found], list[str]]:
    """Detections with their confidence as score (SAM3's where the mode's value is missing)."""
    warnings = []
    found = []
    for n, item in enumerate(items):
        value = _confidence(item, mode)
        if value is None:
            value = item.found.score
            warnings.append("clip_head_no_scores")
        found.append(replace(item.found, score=float(value), step=n))  # `step` carries the index back
    return found, sorted(set(warnings))


def _dedupe_by(items: list[Applied], keys: Sequence[str], iou: float, mode: Confidence) -> list[Applied]:
    if not items:
        return []
    ids = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    found, _ = _ranked(items, mode)
    kept = dedupe(found, iou, classes=[ids[k] for k in keys])
    return [items[f.step] for f in kept]


def merge(items: Sequence[Applied], settings: ChainDedupe, *, max_results: int) -> tuple[list[Applied], list[str]]:
    """De-duplicate per class, then (optionally) across classes; best original score first."""
    _, warnings = _ranked(items, settings.confidence)
    kept = _dedupe_by(list(items), [class_key(i) for i in items], settings.per_class_iou, settings.confidence)
    if settings.cross_class_enabled:
        joining = [i for i in kept if i.cross_class]
        exempt = [i for i in kept if not i.cross_class]
        keys = [i.group if settings.cross_class_scope == "groups" else "" for i in joining]
        kept = _dedupe_by(joining, keys, settings.cross_class_iou, settings.confidence) + exempt
    kept.sort(key=lambda i: -i.found.score)
    return kept[:max_results], warnings

"""Merging the outputs of a cascade's steps (`apply_image_chain`): optional rescoring by a head, de-duplication
per output class (always), then optionally across classes inside a dedupe group or globally (steps that opt
out are exempt). Pure: boxes in, boxes out; the answer keeps each detection's original SAM3 score."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tator.agent_mining.execute import Found, dedupe_indices

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
    for item in items:
        value = _confidence(item, mode)
        if value is None:
            value = item.found.score
            warnings.append("clip_head_no_scores")
        found.append(replace(item.found, score=float(value)))
    return found, sorted(set(warnings))


def merge(items: Sequence[Applied], settings: ChainDedupe, *, max_results: int) -> tuple[list[Applied], list[str]]:
    """De-duplicate per class, then (optionally) across classes inside a group or globally; best original
    score first. Cross-class merging runs group by group, so boxes of two groups never merge."""
    found, warnings = _ranked(items, settings.confidence)
    kept = dedupe_indices(found, settings.per_class_iou, labels=[class_key(i) for i in items])
    if settings.cross_class_enabled:
        joining = [k for k in kept if items[k].cross_class]
        groups: dict[str, list[int]] = {}
        for k in joining:
            groups.setdefault(items[k].group if settings.cross_class_scope == "groups" else "", []).append(k)
        survivors = {k for k in kept if not items[k].cross_class}
        for members in groups.values():
            chosen = dedupe_indices([found[k] for k in members], settings.cross_class_iou,
                                    cross_class_iou=settings.cross_class_iou)  # fmt: skip
            survivors |= {members[c] for c in chosen}
        kept = [k for k in kept if k in survivors]
    out = sorted((items[k] for k in kept), key=lambda i: -i.found.score)
    return out[:max_results], warnings

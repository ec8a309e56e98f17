"""The one dedupe of prepass candidates: greedy IoU merge that keeps every source's score and provenance.

Rule: candidates are walked by score, highest first (a missing score counts as 0; ties keep input order). Each
joins the first already-kept cluster whose representative has the same label and IoU >= `iou`, or, with
`cross_class_iou` set, a different label and IoU >= `cross_class_iou`. The representative (box, label, score,
prompt fields) is the cluster's highest-scoring member, i.e. the first one; the cluster accumulates the union of
`source_list` and `atom_ids` and the maximum score per source. `fusion="wbf"` replaces the representative box by
the score-weighted mean of the members' boxes (weights floored at 1e-6). Boxes that are not valid xyxy (zero or
negative size, non-finite) pass through unmerged. IoU is `tator.vision.boxes.box_iou`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tator.prepass.candidates import Candidate
from tator.vision.boxes import box_iou

Fusion = Literal["primary", "wbf"]
_ROW_BLOCK = 512  # IoU rows computed at a time: memory is _ROW_BLOCK x N floats, whatever N


class DedupeConfig(BaseModel):
    """Dedupe settings (part of the prepass config, so part of its cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iou: float = Field(default=0.75, ge=0.0, le=1.0, description="Same-class merge IoU.")
    cross_class_iou: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Merge other classes at this IoU (higher score wins); None: never"
    )
    fusion: Fusion = Field(default="primary", description="primary: keep the top box; wbf: score-weighted mean box.")
    scoreless_iou: float = Field(
        default=0.0, ge=0.0, le=1.0, description="Scoreless boxes need a scored one at this IoU; 0 keeps all."
    )


def _valid(box: tuple[float, float, float, float]) -> bool:
    x1, y1, x2, y2 = box
    return all(math.isfinite(v) for v in box) and x2 > x1 and y2 > y1


def _clusters(ordered: Sequence[Candidate], iou: float, cross_class_iou: float | None) -> list[list[int]]:
    """Greedy clustering of candidates already sorted by score; indices into `ordered`. Each row is one
    vectorised pass over the earlier candidates (kept ones only), so N candidates cost O(N^2) numpy work."""
    boxes = np.array([c.box for c in ordered], dtype=np.float32).reshape(-1, 4)
    names = {label: n for n, label in enumerate(dict.fromkeys(c.label for c in ordered))}
    labels = np.array([names[c.label] for c in ordered], dtype=np.int64)
    cross = np.inf if cross_class_iou is None else cross_class_iou
    is_kept = np.zeros(len(ordered), dtype=bool)
    owner = np.arange(len(ordered))
    for start in range(0, len(ordered), _ROW_BLOCK):
        block = box_iou(boxes[start : start + _ROW_BLOCK], boxes[: start + _ROW_BLOCK])  # earlier columns only
        for offset, row in enumerate(block):
            i = start + offset
            thresholds = np.where(labels[:i] == labels[i], iou, cross)
            hits = np.flatnonzero(is_kept[:i] & (row[:i] >= thresholds))
            if len(hits):
                owner[i] = hits[0]
            else:
                is_kept[i] = True
    members: dict[int, list[int]] = {int(k): [] for k in np.flatnonzero(is_kept)}
    for i, k in enumerate(owner.tolist()):
        members[k].append(i)
    return list(members.values())


def _merge(group: Sequence[Candidate], fusion: Fusion) -> Candidate:
    head = group[0]
    if len(group) == 1:
        return head
    sources: dict[str, None] = {}
    atoms: dict[str, None] = {}
    by_source: dict[str, float] = {}
    for member in group:
        sources.update(dict.fromkeys(member.source_list))
        atoms.update(dict.fromkeys(member.atom_ids))
        for source, score in member.score_by_source.items():
            by_source[source] = max(score, by_source.get(source, score))
    update: dict[str, object] = {
        "source_list": tuple(sources),
        "atom_ids": tuple(atoms),
        "score_by_source": by_source,
    }
    if fusion == "wbf":
        weights = np.array([max(m.score or 0.0, 1e-6) for m in group], dtype=np.float64)
        boxes = np.array([m.box for m in group], dtype=np.float64)
        fused = (boxes * weights[:, None]).sum(axis=0) / weights.sum()
        update["box"] = (float(fused[0]), float(fused[1]), float(fused[2]), float(fused[3]))
    return head.model_copy(update=update)


def merge_candidates(
    candidates: Sequence[Candidate],
    *,
    iou: float = 0.75,
    cross_class_iou: float | None = None,
    fusion: Fusion = "primary",
) -> list[Candidate]:
    """Deduped candidates (module docstring), highest score first; invalid boxes are kept untouched."""
    valid = [c for c in candidates if _valid(c.box)]
    invalid = [c for c in candidates if not _valid(c.box)]
    ordered = sorted(valid, key=lambda c: -(c.score or 0.0))  # sorted() is stable: ties keep input order
    if cross_class_iou is None:  # classes never meet: cluster each class alone (far fewer IoU pairs)
        by_label: dict[str, list[int]] = {}
        for i, c in enumerate(ordered):
            by_label.setdefault(c.label, []).append(i)
        groups = [
            [idx[k] for k in group]
            for idx in by_label.values()
            for group in _clusters([ordered[i] for i in idx], iou, None)
        ]
        groups.sort(key=lambda g: g[0])  # representatives in score order, as one pass would give
    else:
        groups = _clusters(ordered, iou, cross_class_iou)
    merged = [_merge([ordered[i] for i in group], fusion) for group in groups]
    return sorted(merged + invalid, key=lambda c: -(c.score or 0.0))  # stable: invalid ones after equal scores


def drop_scoreless(candidates: Sequence[Candidate], *, iou: float) -> list[Candidate]:
    """Drop scoreless candidates (no score, or source unknown) unless one overlaps a scored candidate at
    IoU >= `iou`; `iou` <= 0 keeps everything. Order is kept."""
    if iou <= 0:
        return list(candidates)
    anchors = np.array([c.box for c in candidates if c.scored], dtype=np.float32).reshape(-1, 4)
    loose = [c for c in candidates if not c.scored]
    if not loose:
        return list(candidates)
    overlaps = box_iou(np.array([c.box for c in loose], dtype=np.float32).reshape(-1, 4), anchors)
    best = overlaps.max(axis=1) if overlaps.shape[1] else np.zeros(len(loose), np.float32)
    keep_loose = {id(c) for c, value in zip(loose, best, strict=True) if value >= iou}
    return [c for c in candidates if c.scored or id(c) in keep_loose]


def dedupe(candidates: Sequence[Candidate], config: DedupeConfig) -> list[Candidate]:
    """The prepass cleanup: merge (module docstring), then the scoreless filter."""
    merged = merge_candidates(candidates, iou=config.iou, cross_class_iou=config.cross_class_iou, fusion=config.fusion)
    return drop_scoreless(merged, iou=config.scoreless_iou)

"""What calibration learns from: per image, its prepass candidates and (for training) its ground truth.

A candidate is read from a prepass record (the `Candidate` model's fields, or the contract's detection record with
`bbox_xyxy_px`), keeping only what the features use. Boxes are pixel xyxy (tator.annotations). The split is by
image, seeded, into train / tune / test, so no image contributes to more than one of them.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tator.calibration.evaluate import Box
from tator.datasets.labels import index_by_label, normalise_label


@dataclass(frozen=True)
class CandidateBox:
    """One prepass candidate as calibration sees it: class id, pixel box, score, per-source scores and the
    classifier head's verdict (None when no head ran)."""

    class_id: int
    box: Box
    score: float
    score_by_source: Mapping[str, float]
    atom_count: int = 1
    classifier_prob: float | None = None
    classifier_agrees: bool | None = None


@dataclass
class ImageSample:
    """One image: its key (path relative to the dataset root), size in pixels, candidates and ground truth."""

    image: str
    width: int
    height: int
    candidates: list[CandidateBox] = field(default_factory=list)
    truths: list[tuple[int, Box]] = field(default_factory=list)


@dataclass(frozen=True)
class Split:
    """Image keys of the three disjoint parts."""

    train: tuple[str, ...]
    tune: tuple[str, ...]
    test: tuple[str, ...]

    def as_dict(self) -> dict[str, list[str]]:
        return {"train": list(self.train), "tune": list(self.tune), "test": list(self.test)}


def _box_of(record: Mapping[str, Any]) -> Box:
    raw = record.get("box", record.get("bbox_xyxy_px"))
    if not isinstance(raw, list | tuple) or len(raw) != 4:
        raise ValueError("a candidate needs a 4-number pixel xyxy `box` (or `bbox_xyxy_px`)")
    x1, y1, x2, y2 = (float(v) for v in raw)
    return (x1, y1, x2, y2)


def _class_of(record: Mapping[str, Any], classes: Sequence[str], index: Mapping[str, int]) -> int | None:
    label = record.get("label")
    if isinstance(label, str):
        return index.get(normalise_label(label))
    class_id = record.get("class_id")
    return int(class_id) if isinstance(class_id, int) and 0 <= class_id < len(classes) else None


def candidate_from_record(record: Mapping[str, Any], classes: Sequence[str]) -> CandidateBox | None:
    """A prepass candidate record as a `CandidateBox`; None when its label is not one of `classes`."""
    index = index_by_label(classes)
    class_id = _class_of(record, classes, index)
    if class_id is None:
        return None
    by_source = {str(k): float(v) for k, v in dict(record.get("score_by_source") or {}).items() if v is not None}
    score = record.get("score")
    score_value = float(score) if isinstance(score, int | float) else max(by_source.values(), default=0.0)
    best = record.get("classifier_best")
    prob = record.get("classifier_prob")
    atoms = record.get("atom_ids", record.get("prepass_atom_ids")) or ()
    return CandidateBox(
        class_id=class_id,
        box=_box_of(record),
        score=score_value,
        score_by_source=by_source,
        atom_count=max(1, len(atoms)),
        classifier_prob=float(prob) if isinstance(prob, int | float) else None,
        classifier_agrees=(normalise_label(best) == normalise_label(classes[class_id]))
        if isinstance(best, str)
        else None,
    )


def candidates_from_records(records: Sequence[Mapping[str, Any]], classes: Sequence[str]) -> list[CandidateBox]:
    """Every record whose label is one of `classes` (others are dropped: they cannot be scored)."""
    out = (candidate_from_record(r, classes) for r in records)
    return [c for c in out if c is not None]


def split_images(images: Sequence[str], *, seed: int, tune: float = 0.2, test: float = 0.2) -> Split:
    """Seeded split by image; each part gets at least one image when there are three or more."""
    keys = sorted(images)
    random.Random(seed).shuffle(keys)
    n = len(keys)
    n_test = max(1, round(n * test)) if n >= 3 else 0
    n_tune = max(1, round(n * tune)) if n >= 3 else 0
    return Split(
        train=tuple(sorted(keys[n_test + n_tune :])),
        tune=tuple(sorted(keys[n_test : n_test + n_tune])),
        test=tuple(sorted(keys[:n_test])),
    )

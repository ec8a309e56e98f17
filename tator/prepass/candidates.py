"""The prepass candidate: one proposed box with its score, provenance and classifier verdict.

Every step after the model calls (dedupe, classifier scoring, calibration features, mining, the proposals
dataset) works on `Candidate`. Boxes are absolute pixels, xyxy, in the image as sent (tator.annotations).
`to_detection` converts one candidate to the contract's detection record, which carries the box in all four
conventions: `bbox_xyxy_px`, `bbox_xywh_px` (top-left + size), `bbox_2d` (0..1000 grid) and `bbox_yolo`
(normalised centre + size).

Sources are short names: `yolo`, `rfdetr`, `sam3_text`, `sam3_similarity` (others may be added; `unknown`
marks a box of unknown origin, which the scoreless filter treats as unscored).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

Box = tuple[float, float, float, float]

SOURCES = ("yolo", "rfdetr", "sam3_text", "sam3_similarity")
UNKNOWN_SOURCE = "unknown"


class Candidate(BaseModel):
    """One candidate box. `source*`/`score_by_source`/`atom_ids` are its provenance: after a merge they hold the
    union of every merged candidate's sources and atoms and the maximum score each source gave."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    box: Box = Field(description="Pixel xyxy in the image as sent.")
    label: str = Field(description="Class name from the dataset's labelmap.")
    class_id: int = Field(ge=0, description="Index of `label` in the dataset's labelmap.")
    score: float | None = Field(default=None, description="The representative's score (0..1); None = scoreless.")
    source: str = Field(default=UNKNOWN_SOURCE, description="Source of the representative box.")
    source_primary: str = Field(default="", description="The source that proposed the representative ('' = source).")
    source_list: tuple[str, ...] = Field(default=(), description="Every source that proposed this box, in order.")
    score_by_source: dict[str, float] = Field(default_factory=dict, description="Max score per source.")
    atom_ids: tuple[str, ...] = Field(default=(), description="Ids of the raw model outputs merged into this box.")
    run_id: str | None = Field(default=None, description="Model run that proposed it, e.g. 'yolo:full'.")
    prompt_term: str | None = Field(default=None, description="SAM3 text prompt that found it.")
    prompt_origin: str | None = Field(default=None, description="Where the prompt term came from (base/glossary...).")
    window: Box | None = Field(default=None, description="Window (pixel xyxy) it was found in; None = full image.")
    grid_cell: str | None = Field(default=None, description="Grid cell name (A1, B2...) of that window.")
    classifier_prob: float | None = Field(default=None, description="Classifier-head probability of `label`.")
    classifier_best: str | None = Field(default=None, description="The classifier head's top class for the crop.")

    @model_validator(mode="before")
    @classmethod
    def _complete_provenance(cls, data: object) -> object:
        # Provenance is always complete: the primary source is set and appears in source_list, and a scored
        # candidate's own score is in score_by_source.
        if not isinstance(data, dict):
            return data
        source = data.get("source", UNKNOWN_SOURCE)
        primary = data.get("source_primary") or source
        sources = tuple(data.get("source_list") or ())
        by_source = dict(data.get("score_by_source") or {})
        score = data.get("score")
        if score is not None and by_source.get(source, -1.0) < score:
            by_source[source] = score
        return {
            **data,
            "source_primary": primary,
            "source_list": sources if primary in sources else (primary, *sources),
            "score_by_source": by_source,
        }

    @property
    def scored(self) -> bool:
        """Whether the candidate has a score and a known source (the scoreless filter's anchors)."""
        return self.score is not None and self.source != UNKNOWN_SOURCE


def make_atoms(
    boxes: Iterable[Sequence[float]],
    scores: Iterable[float],
    class_ids: Iterable[int],
    labelmap: Sequence[str],
    *,
    source: str,
    run_id: str,
    **fields: object,
) -> list[Candidate]:
    """Raw model outputs (pixel xyxy boxes, scores, dataset class ids) as candidates with deterministic atom
    ids `<run_id>:<n>`; `fields` (prompt_term, window, grid_cell...) go on every one."""
    out: list[Candidate] = []
    for n, (box, score, class_id) in enumerate(zip(boxes, scores, class_ids, strict=True)):
        cid = int(class_id)
        x1, y1, x2, y2 = (float(v) for v in box)
        out.append(
            Candidate.model_validate(
                {
                    "box": (x1, y1, x2, y2),
                    "label": labelmap[cid],
                    "class_id": cid,
                    "score": float(score),
                    "source": source,
                    "run_id": run_id,
                    "atom_ids": (f"{run_id}:{n}",),
                    **fields,
                }
            )
        )
    return out


def _round(values: Iterable[float], digits: int = 3) -> list[float]:
    return [round(float(v), digits) for v in values]


def _grid(box: Box, width: int, height: int) -> list[float]:
    return _round([box[0] / width * 1000, box[1] / height * 1000, box[2] / width * 1000, box[3] / height * 1000])


class PrepassDetection(BaseModel):
    """The contract's detection record (one candidate in every box convention, with its provenance)."""

    bbox_xyxy_px: list[float] = Field(description="[x1, y1, x2, y2] absolute pixels of the image as sent.")
    bbox_xywh_px: list[float] = Field(description="[x, y, w, h] pixels, top-left + size.")
    bbox_2d: list[float] = Field(description="[x1, y1, x2, y2] on a 0..1000 grid of the image.")
    bbox_yolo: list[float] = Field(description="[cx, cy, w, h] normalised 0..1.")
    bbox_space: str = Field(default="full", description="Boxes are in the full image's frame.")
    label: str
    class_id: int
    score: float | None
    score_source: str
    source: str
    source_primary: str
    source_list: list[str]
    score_by_source: dict[str, float]
    prepass_atom_ids: list[str]
    source_detector_run_id: str | None = None
    sam3_prompt_term: str | None = None
    sam3_prompt_label: str | None = None
    sam3_prompt_source: str | None = None
    window_xyxy_px: list[float] | None = None
    window_bbox_2d: list[float] | None = None
    grid_cell: str | None = None
    classifier_best: str | None = None
    classifier_prob: float | None = None
    ensemble_prob: float | None = Field(default=None, description="Calibrated score (when a calibrator filtered).")
    ensemble_threshold: float | None = Field(default=None, description="The calibrator's threshold for this class.")


def to_detection(candidate: Candidate, width: int, height: int) -> PrepassDetection:
    """The contract's detection record of `candidate` in an image of `width` x `height` pixels."""
    x1, y1, x2, y2 = candidate.box
    window = candidate.window
    prompted = candidate.prompt_term is not None
    return PrepassDetection(
        bbox_xyxy_px=_round(candidate.box, 2),
        bbox_xywh_px=_round((x1, y1, x2 - x1, y2 - y1), 2),
        bbox_2d=_grid(candidate.box, width, height),
        bbox_yolo=_round(((x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height), 6),
        label=candidate.label,
        class_id=candidate.class_id,
        score=candidate.score,
        score_source=candidate.source,
        source=candidate.source,
        source_primary=candidate.source_primary,
        source_list=list(candidate.source_list),
        score_by_source=dict(candidate.score_by_source),
        prepass_atom_ids=list(candidate.atom_ids),
        source_detector_run_id=candidate.run_id,
        sam3_prompt_term=candidate.prompt_term,
        sam3_prompt_label=candidate.label if prompted else None,
        sam3_prompt_source=candidate.prompt_origin,
        window_xyxy_px=_round(window, 2) if window is not None else None,
        window_bbox_2d=_grid(window, width, height) if window is not None else None,
        grid_cell=candidate.grid_cell,
        classifier_best=candidate.classifier_best,
        classifier_prob=candidate.classifier_prob,
    )

"""Running a mined recipe on one image: the one execution both the mining job (which scores it) and
`/agent_mining/apply_image` (which answers with it) use, so a recipe does on an image exactly what its
summary says it did.

Per step: SAM3 text detections of the step's prompt above its seed threshold are the seeds; seeds are
de-duplicated at `seed_dedupe_iou`; the best `max_visual_seeds` of them are each expanded with a SAM3
visual (exemplar box) prompt above `expand_threshold`. Every step's seeds and expansions are pooled and
de-duplicated at `dedupe_iou` (the one dedupe, `tator.prepass.dedupe`), best score first, then cut to
`max_results`. Boxes are pixel xyxy. Recipes are `tator.agent_mining.recipe` models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from tator.agent_mining.recipe import MiningParams, MiningStep
from tator.annotations import BBox
from tator.prepass.candidates import Candidate
from tator.prepass.dedupe import merge_candidates


@dataclass(frozen=True)
class Found:
    """One detection: pixel xyxy box, SAM3 score, mask area (px^2), the mask when kept, and its origin."""

    box: BBox
    score: float
    area: float
    mask: Any = None  # H x W bool array (apply routes); None in the mining job
    prompt: str = ""
    step: int = 0
    origin: str = "text"  # text | visual


class Engine(Protocol):
    """SAM3 on one image: `text` and `visual` return detections above `threshold`, best first."""

    def text(self, prompt: str, threshold: float) -> list[Found]: ...

    def visual(self, box: BBox, threshold: float) -> list[Found]: ...


def dedupe_indices(
    found: Sequence[Found], iou: float, *, labels: Sequence[str] | None = None, cross_class_iou: float | None = None
) -> list[int]:
    """Indices of the detections the one dedupe keeps (same label merges at IoU >= `iou`), best first."""
    candidates = [
        Candidate(
            box=tuple(f.box),
            label=labels[i] if labels is not None else "",
            class_id=0,
            score=f.score,
            source="sam3",
            atom_ids=(str(i),),
        )  # fmt: skip
        for i, f in enumerate(found)
    ]
    # A cluster's representative is its best member, whose atom id comes first in the merged list.
    return [int(c.atom_ids[0]) for c in merge_candidates(candidates, iou=iou, cross_class_iou=cross_class_iou)]


def dedupe(found: Sequence[Found], iou: float) -> list[Found]:
    return [found[i] for i in dedupe_indices(found, iou)]


def run_step(engine: Engine, step: MiningStep, params: MiningParams, index: int) -> list[Found]:
    """Seeds of one step and their visual expansions (not yet de-duplicated against each other)."""
    seeds = [replace(f, prompt=step.prompt, step=index) for f in engine.text(step.prompt, step.seed_threshold)]
    seeds = dedupe(seeds, params.seed_dedupe_iou)
    out = list(seeds)
    for seed in seeds[: params.max_visual_seeds]:
        out.extend(
            replace(f, prompt=step.prompt, step=index, origin="visual")
            for f in engine.visual(seed.box, params.expand_threshold)
        )
    return out


def run_recipe(engine: Engine, steps: Sequence[MiningStep], params: MiningParams) -> list[Found]:
    """The recipe's enabled steps on one image, pooled and de-duplicated, best first."""
    pooled = [f for index, step in enumerate(steps) if step.enabled for f in run_step(engine, step, params, index)]
    return dedupe(pooled, params.dedupe_iou)[: params.max_results]

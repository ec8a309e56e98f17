"""Running a mined recipe on one image: the one execution both the mining job (which scores it) and
`/agent_mining/apply_image` (which answers with it) use, so a recipe does on an image exactly what its
summary says it did.

Per step: SAM3 text detections of the step's prompt above its seed threshold are the seeds; seeds are
de-duplicated at `seed_dedupe_iou`; the best `max_visual_seeds` of them are each expanded with a SAM3
visual (exemplar box) prompt above `expand_threshold`. Every step's seeds and expansions are pooled and
de-duplicated at `dedupe_iou`, best score first, then cut to `max_results`. Boxes are pixel xyxy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tator.annotations import BBox
from tator.vision.boxes import classwise_nms


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


class RecipeStep(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prompt: str = Field(min_length=1, max_length=200)
    seed_threshold: float = Field(ge=0, le=1)


class RecipeParams(BaseModel):
    """The SAM3 settings a recipe runs with (the reference's defaults)."""

    model_config = ConfigDict(extra="ignore")
    expand_threshold: float = Field(default=0.15, ge=0, le=1)
    max_visual_seeds: int = Field(default=25, ge=0, le=100)
    seed_dedupe_iou: float = Field(default=0.9, ge=0, le=1)
    dedupe_iou: float = Field(default=0.5, ge=0, le=1)
    mask_threshold: float = Field(default=0.5, ge=0, le=1)
    min_size: float = Field(default=0.0, ge=0)
    max_results: int = Field(default=1000, ge=1, le=1000)


def dedupe(found: Sequence[Found], iou: float, *, classes: Sequence[int] | None = None) -> list[Found]:
    """Greedy de-duplication, best score first: a box overlapping a kept one of its class above `iou` goes."""
    if not found:
        return []
    boxes = np.asarray([list(f.box) for f in found], dtype=np.float32)
    scores = np.asarray([f.score for f in found], dtype=np.float32)
    labels = np.asarray(classes if classes is not None else [0] * len(found), dtype=np.int64)
    return [found[int(i)] for i in classwise_nms(boxes, scores, labels, iou)]


def run_step(engine: Engine, step: RecipeStep, params: RecipeParams, index: int) -> list[Found]:
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


def run_recipe(engine: Engine, steps: Sequence[RecipeStep], params: RecipeParams) -> list[Found]:
    """The recipe's detections on one image, best first."""
    pooled = [f for index, step in enumerate(steps) for f in run_step(engine, step, params, index)]
    return dedupe(pooled, params.dedupe_iou)[: params.max_results]

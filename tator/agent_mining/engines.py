"""SAM3 engines for recipe execution: straight on a loaded model (`HandleEngine`), and through the
mining cache (`CachedEngine`), which stores each (image, prompt) answer at threshold 0 and filters it.

Filtering a cached threshold-0 answer gives exactly the direct answer at a higher threshold: `detect`
sorts by score and keeps the first `max_results` above the threshold, and those are a prefix of the
threshold-0 list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tator.agent_mining.cache import MiningCache
from tator.agent_mining.execute import Found
from tator.agent_mining.recipe import MiningParams
from tator.annotations import BBox
from tator.sam3.concept import ConceptDetection, ConceptQuery, detect
from tator.sam3.loader import Sam3Handle

CACHE_FLOOR = 0.0


def _found(d: ConceptDetection, *, keep_mask: bool) -> Found:
    return Found(d.box, d.score, float(np.count_nonzero(d.mask)), d.mask if keep_mask else None)


@dataclass
class HandleEngine:
    """SAM3 on one image whose vision features are `features` (pixels `width` x `height`)."""

    handle: Sam3Handle
    features: Any
    width: int
    height: int
    params: MiningParams
    keep_masks: bool = True

    def _query(self, text: str | None, boxes: tuple[BBox, ...], threshold: float) -> list[Found]:
        query = ConceptQuery(
            text=text, boxes=boxes, labels=(1,) * len(boxes), threshold=threshold,
            mask_threshold=self.params.mask_threshold, max_results=self.params.max_results,
        )  # fmt: skip
        found = detect(self.handle, self.features, self.width, self.height, query)
        side = self.params.min_size  # the recipe's min_size is the smallest kept box side, pixels
        return [_found(d, keep_mask=self.keep_masks) for d in found if min(d.box.width, d.box.height) >= side]

    def text(self, prompt: str, threshold: float) -> list[Found]:
        return self._query(prompt, (), threshold)

    def visual(self, box: BBox, threshold: float) -> list[Found]:
        return self._query(None, (box,), threshold)


@dataclass
class CachedEngine:
    """Answers from the mining cache; SAM3 runs (features first, once) only on a miss."""

    cache: MiningCache
    image_key: str
    params: MiningParams
    make: Callable[[], HandleEngine]  # called at most once, on the first miss
    read: bool = True  # False: recompute every answer (and refresh the cache)
    _engine: HandleEngine | None = None
    hits: int = 0
    misses: int = 0
    _memo: dict[str, list[Found]] = field(default_factory=dict)

    def _engine_once(self) -> HandleEngine:
        if self._engine is None:
            self._engine = self.make()
        return self._engine

    def _answer(self, kind: str, what: str, run: Any) -> list[Found]:
        settings = self.params.model_dump(include={"mask_threshold", "min_size", "max_results"})
        key = self.cache.key(self.image_key, kind, what, settings)
        if key in self._memo:
            return self._memo[key]
        rows = self.cache.get(key) if self.read else None
        if rows is None:
            self.misses += 1
            found: list[Found] = run()
            self.cache.put(key, [[*f.box, f.score, f.area] for f in found])
        else:
            self.hits += 1
            found = [Found(BBox(*r[:4]), float(r[4]), float(r[5])) for r in rows]
        self._memo[key] = found
        return found

    def text(self, prompt: str, threshold: float) -> list[Found]:
        found = self._answer("text", prompt, lambda: self._engine_once().text(prompt, CACHE_FLOOR))
        return [replace(f) for f in found if f.score > threshold]

    def visual(self, box: BBox, threshold: float) -> list[Found]:
        what = ",".join(repr(float(v)) for v in box)
        found = self._answer("visual", what, lambda: self._engine_once().visual(box, CACHE_FLOOR))
        return [replace(f) for f in found if f.score > threshold]

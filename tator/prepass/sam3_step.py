"""Prepass SAM3 steps: text prompts per class term and similarity from exemplar boxes, on the full image and
on a grid of overlapping windows. The image encoder runs once per context (full image, each cell); every
prompt of both steps reuses those features, which live only for this request.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tator.annotations import BBox
from tator.prepass.candidates import Box, Candidate, make_atoms
from tator.prepass.config import PrepassConfig
from tator.prepass.terms import PromptTerm
from tator.prepass.trace import Trace
from tator.sam3.concept import ConceptQuery, detect, vision_features
from tator.vision.detection import Pixels


@dataclass(frozen=True)
class Context:
    """Where SAM3 looks: the full image (`window` None) or one grid cell (pixel xyxy, integers)."""

    name: str
    window: tuple[int, int, int, int] | None


def grid_contexts(width: int, height: int, cols: int, rows: int, overlap: float) -> list[Context]:
    """`cols` x `rows` cells named like spreadsheet cells (A1 = top-left), each grown by `overlap` of its
    size (half on each side) and clipped to the image."""
    cells: list[Context] = []
    cell_w, cell_h = width / cols, height / rows
    pad_x, pad_y = cell_w * overlap / 2, cell_h * overlap / 2
    for row in range(rows):
        for col in range(cols):
            x1 = int(max(0, np.floor(col * cell_w - pad_x)))
            y1 = int(max(0, np.floor(row * cell_h - pad_y)))
            x2 = int(min(width, np.ceil((col + 1) * cell_w + pad_x)))
            y2 = int(min(height, np.ceil((row + 1) * cell_h + pad_y)))
            cells.append(Context(f"{string.ascii_uppercase[col]}{row + 1}", (x1, y1, x2, y2)))
    return cells


def contexts(width: int, height: int, config: PrepassConfig, *, windows: bool) -> list[Context]:
    full = [Context("full", None)]
    if not windows or config.grid_cols * config.grid_rows <= 1:
        return full
    return full + grid_contexts(width, height, config.grid_cols, config.grid_rows, config.grid_overlap_ratio)


class Sam3Session:
    """One request's SAM3 work on one image: features per context, computed on first use."""

    def __init__(self, handle: Any, pixels: Pixels, trace: Trace) -> None:
        self.handle, self.pixels, self.trace = handle, pixels, trace
        self._features: dict[str, tuple[Any, int, int]] = {}

    def features(self, context: Context) -> tuple[Any, int, int]:
        if context.name not in self._features:
            x1, y1, x2, y2 = context.window or (0, 0, self.pixels.shape[1], self.pixels.shape[0])
            crop = np.ascontiguousarray(self.pixels[y1:y2, x1:x2])
            with self.trace.model_call():
                self._features[context.name] = (vision_features(self.handle, crop), x2 - x1, y2 - y1)
        return self._features[context.name]

    def query(self, context: Context, query: ConceptQuery) -> tuple[list[Box], list[float]]:
        """Boxes (pixel xyxy of the full image) and scores of one prompt in one context."""
        features, width, height = self.features(context)
        with self.trace.model_call():
            found = detect(self.handle, features, width, height, query)
        dx, dy = (context.window or (0, 0))[:2]
        return [(b.box.x1 + dx, b.box.y1 + dy, b.box.x2 + dx, b.box.y2 + dy) for b in found], [b.score for b in found]


def _class_name(labelmap: Sequence[str], class_id: int) -> str:
    return labelmap[class_id] if 0 <= class_id < len(labelmap) else str(class_id)


def _fields(context: Context) -> dict[str, Any]:
    if context.window is None:
        return {}
    return {"window": tuple(float(v) for v in context.window), "grid_cell": context.name}


def text_step(
    session: Sam3Session, terms: dict[int, list[PromptTerm]], labelmap: Sequence[str], config: PrepassConfig,
    places: list[Context],
) -> list[Candidate]:  # fmt: skip
    """Every class term in every context, at the text threshold. The trace's input names every prompt sent,
    per class (the dedupe may keep another prompt's box where two found the same object)."""
    out: list[Candidate] = []
    sent = {_class_name(labelmap, class_id): [p.term for p in prompts] for class_id, prompts in terms.items()}
    with session.trace.step("sam3_text", threshold=config.prepass_sam3_text_thr, prompts=sent) as step:
        for context in places:
            for class_id, prompts in terms.items():
                for n, prompt in enumerate(prompts):
                    query = ConceptQuery(
                        text=prompt.term, threshold=config.prepass_sam3_text_thr,
                        mask_threshold=config.sam3_mask_threshold, max_results=config.sam3_max_results,
                    )  # fmt: skip
                    boxes, scores = session.query(context, query)
                    out += make_atoms(
                        boxes, scores, [class_id] * len(boxes), labelmap, source="sam3_text",
                        run_id=f"sam3_text:{context.name}:{class_id}:{n}", prompt_term=prompt.term,
                        prompt_origin=prompt.origin, **_fields(context),
                    )  # fmt: skip
        prompts_total = sum(len(p) for p in terms.values())
        step["summary"] = f"sam3 text: {len(out)} boxes from {prompts_total} prompts x {len(places)} contexts"
        step["counts"] = {"boxes": len(out), "prompts": prompts_total, "contexts": len(places)}
        step["windows"] = [c.name for c in places]
    return out


def exemplars(candidates: Sequence[Candidate], config: PrepassConfig) -> dict[int, list[Candidate]]:
    """Per class, the top `similarity_exemplar_count` candidates scoring at least the exemplar minimum."""
    chosen: dict[int, list[Candidate]] = {}
    for c in sorted(candidates, key=lambda c: -(c.score or 0.0)):
        picked = chosen.setdefault(c.class_id, [])
        if (c.score or 0.0) >= config.similarity_min_exemplar_score and len(picked) < config.similarity_exemplar_count:
            picked.append(c)
    return {k: v for k, v in chosen.items() if v}


def _inside(box: Box, window: tuple[int, int, int, int] | None) -> BBox | None:
    """`box` clipped to `window` in window pixels; None when they do not overlap."""
    x0, y0, x3, y3 = window or (0, 0, 10**9, 10**9)
    x1, y1, x2, y2 = max(box[0], x0), max(box[1], y0), min(box[2], x3), min(box[3], y3)
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return BBox(x1 - x0, y1 - y0, x2 - x0, y2 - y0)


def similarity_step(
    session: Sam3Session, chosen: dict[int, list[Candidate]], labelmap: Sequence[str], config: PrepassConfig,
    places: list[Context],
) -> list[Candidate]:  # fmt: skip
    """Per class and context, instances like the class's exemplars that overlap the context."""
    out: list[Candidate] = []
    with session.trace.step("sam3_similarity", threshold=config.prepass_similarity_score) as step:
        for context in places:
            for class_id, picked in chosen.items():
                boxes = tuple(b for b in (_inside(c.box, context.window) for c in picked) if b is not None)
                if not boxes:
                    continue
                query = ConceptQuery(
                    text=None, boxes=boxes, labels=(1,) * len(boxes), threshold=config.prepass_similarity_score,
                    mask_threshold=config.sam3_mask_threshold, max_results=config.sam3_max_results,
                )  # fmt: skip
                found, scores = session.query(context, query)
                out += make_atoms(
                    found, scores, [class_id] * len(found), labelmap, source="sam3_similarity",
                    run_id=f"sam3_similarity:{context.name}:{class_id}", **_fields(context),
                )  # fmt: skip
        step["summary"] = f"sam3 similarity: {len(out)} boxes from exemplars of {len(chosen)} classes"
        step["counts"] = {"boxes": len(out), "classes": len(chosen), "exemplars": sum(len(v) for v in chosen.values())}
        step["windows"] = [c.name for c in places]
    return out

"""The prepass on one image, as plain functions: detectors -> SAM3 text -> dedupe -> SAM3 similarity from the
deduped boxes' exemplars -> dedupe -> classifier scores. Every piece of state lives in this call (its trace,
SAM3 features, candidates), so concurrent runs never share anything but the models.

Boxes are pixel xyxy of the image as given (tator.annotations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tator.prepass.candidates import Candidate
from tator.prepass.classify import score_candidates
from tator.prepass.config import PrepassConfig
from tator.prepass.dedupe import dedupe
from tator.prepass.detect import run_detectors
from tator.prepass.models import ModelAccess, PrepassModels
from tator.prepass.sam3_step import Sam3Session, contexts, exemplars, similarity_step, text_step
from tator.prepass.terms import class_terms
from tator.prepass.trace import Trace
from tator.vision.detection import Pixels


@dataclass
class PrepassResult:
    """The deduped candidates (highest score first) and the run's trace (events, warnings, model time)."""

    candidates: list[Candidate]
    trace: Trace


MIN_SIDE_PX = 1.0  # a box narrower or lower than this after clipping to the image is not a proposal


def on_image(candidates: list[Candidate], width: int, height: int, trace: Trace) -> list[Candidate]:
    """Boxes clipped to the image; those left without area (empty masks, boxes off the image) are dropped and
    counted in a warning: no proposal a reviewer could not see, none a YOLO label file would refuse."""
    kept: list[Candidate] = []
    for candidate in candidates:
        x1, y1, x2, y2 = candidate.box
        box = (min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width), min(max(y2, 0.0), height))
        if box[2] - box[0] < MIN_SIDE_PX or box[3] - box[1] < MIN_SIDE_PX:
            continue
        kept.append(candidate if box == candidate.box else candidate.model_copy(update={"box": box}))
    if len(kept) < len(candidates):
        trace.warn(f"prepass_empty_boxes_dropped:{len(candidates) - len(kept)}")
    return kept


def _merge(trace: Trace, candidates: list[Candidate], config: PrepassConfig, stage: str,
           size: tuple[int, int]) -> list[Candidate]:  # fmt: skip
    candidates = on_image(candidates, *size, trace)
    with trace.step("dedupe", stage=stage, iou=config.dedupe_iou) as step:
        merged = dedupe(candidates, config.dedupe())
        step["phase"] = "merge"
        step["summary"] = f"dedupe {stage}: {len(candidates)} -> {len(merged)}"
        step["counts"] = {"in": len(candidates), "out": len(merged)}
    return merged


def _sam3(
    models: ModelAccess, refs: PrepassModels, pixels: Pixels, labelmap: Sequence[str],
    glossary: Mapping[str, Sequence[str]], config: PrepassConfig, found: list[Candidate], trace: Trace,
) -> list[Candidate]:  # fmt: skip
    assert refs.sam3 is not None
    height, width = pixels.shape[:2]
    with models.use(refs.sam3.spec()) as handle:
        session = Sam3Session(handle, pixels, trace)
        if config.enable_sam3_text:
            terms = class_terms(labelmap, glossary, budget=config.sam3_text_synonym_budget)
            bare = [labelmap[k] for k, v in terms.items() if not any(t.origin == "glossary" for t in v)]
            if bare and config.sam3_text_synonym_budget > 0:
                trace.add("skip", "qwen_expansion", f"no glossary terms for {len(bare)} classes; Qwen expansion "
                          "is not part of this pipeline: prompting with the labels only")  # fmt: skip
            places = contexts(width, height, config, windows=config.sam3_text_window_extension)
            found = found + text_step(session, terms, labelmap, config, places)
        merged = _merge(trace, found, config, "a", (width, height))
        if not config.enable_sam3_similarity:
            return merged
        chosen = exemplars(merged, config)
        if not chosen:
            trace.add("skip", "sam3_similarity", "no candidate reaches the exemplar score")
            return merged
        places = contexts(width, height, config, windows=config.similarity_window_extension)
        similar = similarity_step(session, chosen, labelmap, config, places)
    return _merge(trace, merged + similar, config, "b", (width, height))


def run_prepass(
    models: ModelAccess, refs: PrepassModels, pixels: Pixels, labelmap: Sequence[str],
    glossary: Mapping[str, Sequence[str]], config: PrepassConfig,
) -> PrepassResult:  # fmt: skip
    """Run every enabled source whose model is in `refs` (None = unavailable, skipped with a trace note)."""
    trace = Trace()
    height, width = pixels.shape[:2]
    trace.add("intent", "prepass", f"prepass of a {width}x{height} image, {len(labelmap)} classes",
              counts={"classes": len(labelmap)}, tool_input={"sources": list(config.sources)})  # fmt: skip
    wanted = {"yolo": config.enable_yolo, "rfdetr": config.enable_rfdetr,
              "sam3": config.enable_sam3_text or config.enable_sam3_similarity, "classifier": True}  # fmt: skip
    for name, on in wanted.items():
        if on and getattr(refs, name) is None and name != "classifier":
            trace.add("skip", name, f"{name} skipped: no model available")
    detectors = {
        "yolo": refs.yolo if config.enable_yolo else None,
        "rfdetr": refs.rfdetr if config.enable_rfdetr else None,
    }
    found = run_detectors(models, detectors, pixels, labelmap, config, trace)
    if refs.sam3 is not None and wanted["sam3"]:
        merged = _sam3(models, refs, pixels, labelmap, glossary, config, found, trace)
    else:
        merged = _merge(trace, found, config, "a", (width, height))
    if refs.classifier is not None:
        merged = score_candidates(models, refs.classifier, pixels, merged, config, trace)
    trace.add("merge", "prepass", f"{len(merged)} candidates", counts={"candidates": len(merged)})
    return PrepassResult(merged, trace)

"""The SAM3 concept-prompt flows the routes share: text (whole image or windowed) and exemplar boxes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tator.errors import Sam3TextRequiresSam3, Sam3VisualRequiresSam3, TextPromptRequired
from tator.runtime.images import DecodedImage
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.sam3.concept import ConceptDetection, ConceptQuery, Tiling, detect_image, detect_windowed
from tator.sam3.exemplars import exemplars
from tator.sam3.interactive import SamRuntime
from tator.sam3.models import concept_spec

DEFAULT_MAX_RESULTS = 100
DEFAULT_WINDOW = 1008
DEFAULT_OVERLAP = 0.2
DEFAULT_MERGE_IOU = 0.5
MAX_TEXT_CHARS = 200


def clean_text(text: str | None) -> str | None:
    """Collapse whitespace; None when nothing is left."""
    cleaned = " ".join((text or "").split())[:MAX_TEXT_CHARS]
    return cleaned or None


def require_text(variant: str, text: str | None) -> str:
    if variant != "sam3":
        raise Sam3TextRequiresSam3("text prompts need sam_variant 'sam3'", sam_variant=variant[:32])
    cleaned = clean_text(text)
    if cleaned is None:
        raise TextPromptRequired("text_prompt is required")
    return cleaned


def text_prompt(
    runtime: SamRuntime,
    registry: ModelRegistry,
    selections: ModelSelections,
    base_models: Mapping[str, str],
    image: DecodedImage,
    *,
    text: str,
    options: Mapping[str, Any],
) -> list[ConceptDetection]:
    """Every instance of `text` in `image`, on the active SAM3 model. `options` carries the request's
    threshold, mask_threshold, max_results, min_size and the windowing fields (None = default)."""
    spec = concept_spec(selections, base_models)
    query = ConceptQuery(
        text=text, threshold=options["threshold"], mask_threshold=options["mask_threshold"],
        max_results=options.get("max_results") or DEFAULT_MAX_RESULTS, min_size=options.get("min_size") or 0.0,
    )  # fmt: skip
    if not options.get("windowed"):
        return detect_image(runtime, registry, spec, image, query)
    tiling = Tiling(
        window_size=options.get("window_size") or DEFAULT_WINDOW,
        overlap=DEFAULT_OVERLAP if options.get("window_overlap") is None else options["window_overlap"],
        merge_iou=DEFAULT_MERGE_IOU if options.get("merge_iou") is None else options["merge_iou"],
    )
    return detect_windowed(registry, spec, image, query, tiling)


def single_box(left: float | None, top: float | None, width: float | None, height: float | None) -> list[Any]:
    """The single-box form of a visual prompt as a one-element box list (empty when not given)."""
    values = (left, top, width, height)
    return [] if all(v is None for v in values) else [list(values)]


def visual_prompt(
    runtime: SamRuntime,
    registry: ModelRegistry,
    selections: ModelSelections,
    base_models: Mapping[str, str],
    image: DecodedImage,
    *,
    variant: str,
    boxes: Sequence[Any],
    labels: Sequence[Any] | None,
    text: str | None,
    options: Mapping[str, Any],
) -> list[ConceptDetection]:
    """Instances like the exemplar boxes (pixels; negatives exclude), optionally with text."""
    if variant != "sam3":
        raise Sam3VisualRequiresSam3("visual prompts need sam_variant 'sam3'", sam_variant=variant[:32])
    parsed, parsed_labels = exemplars(boxes, labels, image.width, image.height)
    query = ConceptQuery(
        text=clean_text(text), boxes=parsed, labels=parsed_labels, threshold=options["threshold"],
        mask_threshold=options["mask_threshold"], max_results=options.get("max_results") or DEFAULT_MAX_RESULTS,
        min_size=options.get("min_size") or 0.0,
    )  # fmt: skip
    return detect_image(runtime, registry, concept_spec(selections, base_models), image, query)

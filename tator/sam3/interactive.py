"""Interactive SAM: which model a `sam_variant` means, preloading an image into a slot, and prompting.

Embeddings are cached per (model, image token), so a preload and every later click on that image share one
image-encoder pass, and two clients prompting different images each get their own image's answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tator.errors import (
    ImageNameRequiredForSlot,
    PointOutsideImage,
    PreloadSuperseded,
    PromptBboxInvalid,
    SamVariantUnknown,
)
from tator.runtime.images import DecodedImage
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.sam3.embeddings import EmbeddingCache
from tator.sam3.loader import VISION_FROM
from tator.sam3.models import ACTIVE_SLOT
from tator.sam3.predictor import ImageEmbedding, MaskPrediction, embed_image, predict_mask
from tator.sam3.prompts import Prompt, box_prompt, point_prompt
from tator.sam3.slots import PredictorSlots, SlotState
from tator.vision.masks import mask_box

SamVariant = Literal["sam1", "sam3"]
VARIANT_FAMILY: dict[str, str] = {"sam1": "sam1", "sam3": "sam3_tracker"}
BACKEND = "transformers"
PromptFactory = Callable[[int, int], Prompt]  # (width, height) -> a prompt checked against that image


@dataclass
class SamRuntime:
    """The long-lived SAM state of the server: cached embeddings and the preload slots."""

    cache: EmbeddingCache[Any]
    slots: PredictorSlots = field(default_factory=PredictorSlots)

    def clear(self) -> int:
        """Drop every cached image embedding and empty the preload slots; returns how many embeddings went."""
        dropped = self.cache.clear()
        self.slots.clear()
        return dropped


def interactive_spec(variant: str, base_models: Mapping[str, str], selections: ModelSelections) -> ModelSpec:
    """The point/box model of a variant: classic SAM for `sam1`, the SAM3 tracker for `sam3`; while a fine-tuned
    SAM3 is active, the tracker uses that checkpoint's image encoder."""
    family = VARIANT_FAMILY.get(variant)
    if family is None:
        raise SamVariantUnknown(f"sam_variant must be one of {sorted(VARIANT_FAMILY)}", sam_variant=variant[:32])
    active = selections.get(ACTIVE_SLOT) if family == "sam3_tracker" else None
    options = ((VISION_FROM, active.spec.source),) if active is not None else ()
    return ModelSpec(family, base_models[family], options)


def _embedding(runtime: SamRuntime, handle: Any, spec: ModelSpec, image: DecodedImage) -> tuple[ImageEmbedding, bool]:
    return runtime.cache.get_or_compute(
        (spec.key, image.token), lambda: embed_image(handle, image.pixels), lambda e: int(e.nbytes)
    )


def segment(
    runtime: SamRuntime,
    registry: ModelRegistry,
    spec: ModelSpec,
    image: DecodedImage,
    make_prompt: PromptFactory,
) -> MaskPrediction:
    """The best mask for the prompt `make_prompt(width, height)` builds (it validates against the image first,
    so bad input never loads a model)."""
    prompt = make_prompt(image.width, image.height)
    with registry.use(spec) as handle:
        embedding, _ = _embedding(runtime, handle, spec, image)
        return predict_mask(handle, embedding, prompt)


@dataclass(frozen=True)
class PreloadResult:
    state: SlotState
    preload_ms: float
    cache_hit: bool


def preload(
    runtime: SamRuntime,
    registry: ModelRegistry,
    spec: ModelSpec,
    image: DecodedImage,
    *,
    variant: str,
    slot: str = "current",
    generation: int | None = None,
    image_name: str | None = None,
) -> PreloadResult:
    """Embed `image` into `slot` (computing it only when not cached); stale generations are refused (409)."""
    if slot != "current" and not image_name:
        raise ImageNameRequiredForSlot(f"slot {slot!r} needs image_name", slot=slot)
    started = time.perf_counter()
    runtime.slots.begin(slot, generation)
    try:
        with registry.use(spec) as handle:
            embedding, hit = _embedding(runtime, handle, spec, image)
    except BaseException:
        runtime.slots.finish(slot, generation, None)
        raise
    key = (spec.key, image.token)
    runtime.cache.pin(key)
    state = SlotState(
        slot=slot, image_name=image_name, token=image.token, variant=variant, model_key=spec.key,
        width=image.width, height=image.height, last_loaded=time.time(), memory_bytes=embedding.nbytes,
        device=str(getattr(handle, "device", "cpu")), load_ms=round((time.perf_counter() - started) * 1000, 2),
    )  # fmt: skip
    try:
        replaced = runtime.slots.finish(slot, generation, state)
    except PreloadSuperseded:
        runtime.cache.unpin(key)
        raise
    if replaced is not None and replaced.model_key and replaced.token:
        runtime.cache.unpin((replaced.model_key, replaced.token))
    return PreloadResult(state, round((time.perf_counter() - started) * 1000, 2), hit)


def set_max_predictors(runtime: SamRuntime, value: int) -> None:
    """Enable the first `value` slots (1..3), releasing the embeddings the disabled ones pinned."""
    for state in runtime.slots.set_max(value):
        if state.model_key and state.token:
            runtime.cache.unpin((state.model_key, state.token))


def _refine_prompt(prompt: dict[str, list[float]], width: int, height: int) -> Prompt | None:
    """A grounding model's point or xyxy box as a SAM prompt; None when it lies outside the image."""
    try:
        if "point" in prompt:
            return point_prompt(prompt["point"][0], prompt["point"][1], width, height)
        x1, y1, x2, y2 = prompt["box"]
        return box_prompt(x1, y1, x2 - x1, y2 - y1, width, height)
    except (PointOutsideImage, PromptBboxInvalid):
        return None


def refine_to_boxes(
    runtime: SamRuntime,
    registry: ModelRegistry,
    spec: ModelSpec,
    image: DecodedImage,
    prompts: list[dict[str, list[float]]],
) -> list[list[float] | None]:
    """One tight pixel xyxy box per prompt (`{"point": [x, y]}` or `{"box": xyxy}`, pixels of `image`) around the
    mask SAM draws for it: None where the prompt lies outside the image or the mask is empty. The image is
    embedded once (and cached like a preload), then each prompt costs one mask decode."""
    checked = [_refine_prompt(p, image.width, image.height) for p in prompts]
    if all(p is None for p in checked):
        return [None] * len(checked)
    boxes: list[list[float] | None] = []
    with registry.use(spec) as handle:
        embedding, _ = _embedding(runtime, handle, spec, image)
        for prompt in checked:
            box = mask_box(predict_mask(handle, embedding, prompt).mask) if prompt is not None else None
            boxes.append(list(box) if box is not None else None)
    return boxes

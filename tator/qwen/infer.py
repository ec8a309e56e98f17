"""`/qwen/infer`: ask the active (or named) Qwen model for boxes or points of the listed items.

Prompt types: `bbox` (the model's boxes), `point` (the model's points, turned into boxes by SAM) and
`bbox_sam` (the model's boxes, refined by SAM). SAM comes from outside this domain as a `SamRefiner`;
without one, `point` and `bbox_sam` answer `qwen_sam_unavailable` before any generation runs.
Unparseable output is a warning in a 200 answer, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tator.errors import PromptOrItemsRequired, QwenSamUnavailable
from tator.qwen.coords import Frame, detection_dict, map_box, map_point, to_detections
from tator.qwen.generate import GenerationOptions, generate
from tator.qwen.parse import RawDetection, parse_detections
from tator.qwen.service import QwenContext
from tator.qwen.settings import QwenSettings, check_template

_PLACEHOLDER = re.compile(r"\{(items|image_type|extra_context)\}")
# (image, prompts) -> one xyxy pixel box (or None) per prompt; a prompt is {"point": [x, y]} or {"box": xyxy}.
SamRefiner = Callable[[Image.Image, list[dict[str, list[float]]]], list[list[float] | None]]


@dataclass(frozen=True)
class InferQuery:
    prompt: str | None = None
    item_list: str | Sequence[str] | None = None
    image_type: str = "image"
    extra_context: str = ""
    prompt_type: str = "bbox"  # bbox | point | bbox_sam
    max_results: int = 8
    template: str | None = None
    max_new_tokens: int | None = None
    model_id: str | None = None


def _items(item_list: str | Sequence[str] | None) -> str:
    if item_list is None:
        return ""
    if isinstance(item_list, str):
        parts = [p.strip() for p in item_list.replace("\n", ",").split(",")]
    else:
        parts = [str(p).strip() for p in item_list]
    return ", ".join(p for p in parts if p)


def render_prompt(query: InferQuery, settings: QwenSettings) -> str:
    """The final prompt: `prompt` as given, or the item list rendered into the template of the prompt type."""
    items = _items(query.item_list)
    if items:
        if query.template is not None:
            template = check_template(query.template, "item_template")
        else:
            template = settings.point_template if query.prompt_type == "point" else settings.bbox_template
        values = {"items": items, "image_type": query.image_type.strip() or "image",
                  "extra_context": query.extra_context.strip()}  # fmt: skip
        # One pass, so text inside a value ("{extra_context}" in an item name) is never expanded again.
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template).strip()
    if query.prompt and query.prompt.strip():
        return query.prompt.strip()
    raise PromptOrItemsRequired("send a prompt or an item_list")


def _refine(
    raw: list[RawDetection], frame: Frame, image: Image.Image, prompt_type: str, refiner: SamRefiner
) -> tuple[list[dict[str, Any]], int]:
    size = image.size
    kept: list[tuple[RawDetection, dict[str, list[float]]]] = []
    for det in raw:
        if prompt_type == "point" and det.point is not None:
            point = map_point(frame, det.point, size)
            if point is not None:
                kept.append((det, {"point": point}))
        elif prompt_type == "bbox_sam" and det.box is not None:
            box = map_box(frame, det.box, size)
            if box is not None:
                kept.append((det, {"box": box}))
    refined = refiner(image, [prompt for _, prompt in kept]) if kept else []
    out = [
        detection_dict(det, box, frame, size, source=f"qwen_{prompt_type}")
        for (det, _), box in zip(kept, refined, strict=True)
        if box is not None
    ]
    return out, len(raw) - len(out)


def infer(ctx: QwenContext, image: Image.Image, query: InferQuery, *, refiner: SamRefiner | None) -> dict[str, Any]:
    """Run one grounded query; boxes are in pixels of `image` (see `tator.qwen.coords`)."""
    settings = ctx.settings()
    prompt = render_prompt(query, settings)
    if query.prompt_type in ("point", "bbox_sam") and refiner is None:
        raise QwenSamUnavailable(f"prompt_type {query.prompt_type} needs SAM, which is not available")
    ref = ctx.resolve(query.model_id)
    min_pixels, max_pixels = ctx.pixels(settings)
    options = GenerationOptions(ctx.max_new_tokens(query.max_new_tokens), min_pixels, max_pixels)
    with (
        ctx.lease(ref) as handle,
        ctx.runtime.track("infer", max_new_tokens=options.max_new_tokens, timeout_s=ctx.limits.timeout_s) as gen,
    ):
        output = generate(handle, image, prompt, options, gen)
        family = handle.family
    frame = Frame(family, image.size, output.model_size or image.size)
    parsed = parse_detections(output.text, default_label=_items(query.item_list).split(", ")[0] or "object")
    warnings = list(parsed.warnings)
    if query.prompt_type == "bbox":
        boxes, dropped = to_detections(parsed.detections, frame, image.size, source="qwen_bbox")
    else:
        assert refiner is not None
        boxes, dropped = _refine(parsed.detections, frame, image, query.prompt_type, refiner)
    if dropped and parsed.detections:
        warnings.append(f"dropped_invalid:{dropped}")
    if not boxes and "no_results" not in warnings:
        warnings.append("no_results")
    if len(boxes) > query.max_results:
        warnings.append(f"max_results_truncated:{len(boxes)}")
        boxes = boxes[: query.max_results]
    if output.stop_reason != "eos":
        warnings.append(f"generation_stopped:{output.stop_reason}")
    return {
        "boxes": boxes,
        "raw_response": output.text,
        "prompt": prompt,
        "prompt_type": query.prompt_type,
        "warnings": warnings,
        "model_id": ref.id,
        "model_family": family,
        "model_input_size": list(output.model_size) if output.model_size else None,
        "tokens": output.tokens,
    }

"""`/qwen/caption`: one caption of the whole image, or windowed (a caption per tile, then a merge call).

Every generation is bounded (tokens, time) and belongs to one cancel group, so `/qwen/caption/cancel`
stops the current step at its next token and the remaining steps before they start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tator.errors import QwenGenerationCancelled
from tator.qwen.caption_prompt import MERGE_TEMPLATE, CaptionSpec, caption_prompt, clean_caption, model_size
from tator.qwen.coords import Frame
from tator.qwen.generate import GenerationOptions, generate
from tator.qwen.loader import QwenHandle
from tator.qwen.models import family_hint
from tator.qwen.runtime import Generation
from tator.qwen.service import QwenContext
from tator.vision.windows import Window, slice_plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaptionQuery:
    spec: CaptionSpec
    mode: str = "full"  # full | windowed
    hint_size: tuple[int, int] | None = None  # the frame of label hint boxes (image_width, image_height)
    window_size: int = 672
    window_overlap: float = 0.2
    window_max_sentences: int = 2
    max_new_tokens: int | None = None
    min_new_tokens: int = 0
    model_id: str | None = None
    temperature: float | None = None
    top_p: float | None = None


def plan_windows(size: tuple[int, int], query: CaptionQuery, max_windows: int) -> list[Window]:
    """Tiles for windowed mode; the tile grows until at most `max_windows` tiles cover the image."""
    tile = max(32, query.window_size)
    while True:
        windows = slice_plan(size[0], size[1], slice_size=tile, overlap=query.window_overlap)
        if len(windows) <= max_windows:
            return windows
        tile = int(tile * 1.25) + 1


def _hint_scale(size: tuple[int, int], hint_size: tuple[int, int] | None) -> tuple[float, float]:
    if not hint_size:
        return 1.0, 1.0
    return size[0] / max(1, hint_size[0]), size[1] / max(1, hint_size[1])


def _frame(family: str, window: Window, pixels: tuple[int, int]) -> Frame:
    size = (window.x2 - window.x1, window.y2 - window.y1)
    return Frame(family, size, model_size(family, size, *pixels), (window.x1, window.y1))


def preview(ctx: QwenContext, size: tuple[int, int], query: CaptionQuery) -> dict[str, Any]:
    """The prompts a caption request would send, without loading or running the model."""
    ref = ctx.resolve(query.model_id)
    family = family_hint(ref.source)
    pixels = ctx.pixels(ctx.settings())
    scale = _hint_scale(size, query.hint_size)
    full = _frame(family, Window(0, 0, size[0], size[1]), pixels)
    prompt, counts, boxes = caption_prompt(query.spec, full, scale, sentences=query.spec.max_sentences)
    answer: dict[str, Any] = {"caption_mode": query.mode, "model_id": ref.id, "model_family": family}
    if query.mode != "windowed":
        return {**answer, "prompt": prompt, "used_counts": counts, "used_boxes": boxes}
    windows = []
    for window in plan_windows(size, query, ctx.limits.max_windows):
        text, _, _ = caption_prompt(
            query.spec, _frame(family, window, pixels), scale, sentences=query.window_max_sentences
        )
        windows.append({"window_xyxy_px": [window.x1, window.y1, window.x2, window.y2], "prompt": text})
    merge = MERGE_TEMPLATE.replace("{sentences}", str(query.spec.max_sentences))
    return {**answer, "prompt": merge, "windows": windows, "used_counts": counts, "used_boxes": boxes}


class _Session:
    """One caption request: the leased model, its options and the cancel group of its generations."""

    def __init__(self, ctx: QwenContext, handle: QwenHandle, query: CaptionQuery, group: str) -> None:
        settings = ctx.settings()
        self.ctx, self.handle, self.query, self.group = ctx, handle, query, group
        self.pixels = ctx.pixels(settings)
        self.options = GenerationOptions(
            ctx.max_new_tokens(query.max_new_tokens), *self.pixels,
            temperature=query.temperature, top_p=query.top_p, min_new_tokens=query.min_new_tokens,
        )  # fmt: skip
        self.tokens = 0
        self.stops: list[str] = []

    def run(self, op: str, image: Image.Image | None, prompt: str) -> str:
        if self.ctx.runtime.group_cancelled(self.group):
            raise QwenGenerationCancelled("caption was cancelled")
        gen: Generation
        with self.ctx.runtime.track(
            op, max_new_tokens=self.options.max_new_tokens, timeout_s=self.ctx.limits.timeout_s, group=self.group
        ) as gen:
            output = generate(self.handle, image, prompt, self.options, gen)
        self.tokens += output.tokens
        if output.stop_reason != "eos":
            self.stops.append(f"{op}:{output.stop_reason}")
        return output.text


def _full(session: _Session, image: Image.Image, scale: tuple[float, float]) -> tuple[str, dict[str, Any]]:
    window = Window(0, 0, image.width, image.height)
    frame = _frame(session.handle.family, window, session.pixels)
    spec = session.query.spec
    prompt, counts, boxes = caption_prompt(spec, frame, scale, sentences=spec.max_sentences)
    return session.run("caption", image, prompt), {"used_counts": counts, "used_boxes": boxes, "prompt": prompt}


def _windowed(session: _Session, image: Image.Image, scale: tuple[float, float]) -> tuple[str, dict[str, Any]]:
    query, spec = session.query, session.query.spec
    windows: list[dict[str, Any]] = []
    for window in plan_windows(image.size, query, session.ctx.limits.max_windows):
        frame = _frame(session.handle.family, window, session.pixels)
        prompt, _, _ = caption_prompt(spec, frame, scale, sentences=query.window_max_sentences)
        crop = image.crop((window.x1, window.y1, window.x2, window.y2))
        text = session.run("caption_window", crop, prompt)
        cleaned = clean_caption(text, max_sentences=query.window_max_sentences, final_answer_only=True)
        windows.append({"window_xyxy_px": [window.x1, window.y1, window.x2, window.y2], "caption": cleaned.text})
    listing = "\n".join(f"{i + 1}. {w['caption'] or '(nothing)'}" for i, w in enumerate(windows))
    merge = MERGE_TEMPLATE.replace("{windows}", listing).replace("{sentences}", str(spec.max_sentences))
    full = Frame(session.handle.family, image.size, image.size)
    _, counts, boxes = caption_prompt(spec, full, scale, sentences=spec.max_sentences)
    text = session.run("caption_merge", image, merge)
    return text, {"used_counts": counts, "used_boxes": boxes, "prompt": merge, "windows": windows}


def caption(ctx: QwenContext, image: Image.Image, query: CaptionQuery) -> dict[str, Any]:
    """Caption `image`; the answer has the contract's fields plus the prompt(s) and per-window captions."""
    ref = ctx.resolve(query.model_id)
    scale = _hint_scale(image.size, query.hint_size)
    with ctx.runtime.group() as group, ctx.lease(ref) as handle:
        session = _Session(ctx, handle, query, group)
        text, extra = (_windowed if query.mode == "windowed" else _full)(session, image, scale)
    cleaned = clean_caption(
        text, max_sentences=query.spec.max_sentences, final_answer_only=query.spec.final_answer_only
    )
    events = cleaned.events + [f"generation_stopped:{s}" for s in session.stops]
    truncated = cleaned.truncated or any(s.endswith(("max_new_tokens", "timeout")) for s in session.stops)
    return {
        "caption": cleaned.text,
        "truncated": truncated,
        "recovery_events": events,
        "caption_mode": query.mode,
        "model_id": ref.id,
        "model_family": handle.family,
        "tokens": session.tokens,
        **extra,
    }

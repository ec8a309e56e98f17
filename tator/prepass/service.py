"""`/qwen/prepass`: the one-image prepass answer (detections in every box convention, the trace, warnings,
an optional Qwen caption). Boxes are pixels of the image as sent (tator.annotations)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from PIL import Image
from pydantic import BaseModel, Field

from tator.errors import TatorError
from tator.prepass.candidates import Candidate, PrepassDetection, to_detection
from tator.prepass.config import PrepassConfig
from tator.prepass.models import ModelAccess, PrepassModels
from tator.prepass.pipeline import run_prepass
from tator.prepass.resolve import Vocabulary
from tator.prepass.trace import TraceEvent
from tator.qwen.service import QwenContext
from tator.runtime.images import DecodedImage

CAPTION_HINTS = 160  # the top candidates handed to the caption as label hints
Captioner = Callable[[Image.Image, Sequence[Candidate], Vocabulary], str]


class PrepassResponse(BaseModel):
    """The contract's prepass answer."""

    detections: list[PrepassDetection] = Field(description="Deduped candidates, highest score first.")
    trace: list[TraceEvent] = Field(description="One event per pipeline step.")
    warnings: list[str] = Field(description="Skipped sources, dropped detector classes, caption problems.")
    caption: str | None = Field(default=None, description="Qwen caption when asked for and available.")
    trace_path: str | None = Field(default=None, description="Always null: the trace is in the answer.")
    trace_full_path: str | None = Field(default=None, description="Always null: the trace is in the answer.")
    image_token: str = Field(description="Send it instead of the image next time.")
    labelmap: list[str] = Field(description="Class names; class_id indexes this list.")
    timings: dict[str, float] = Field(description="total_s (pipeline) and model_s (inside model calls).")


def qwen_captioner(qwen: QwenContext) -> Captioner:
    """A caption of the image with the top candidates as label hints (the active Qwen model)."""
    from tator.qwen.caption import CaptionQuery, caption
    from tator.qwen.caption_prompt import CaptionSpec, check_hints

    def run(image: Image.Image, candidates: Sequence[Candidate], vocab: Vocabulary) -> str:
        hints = check_hints([(c.label, list(c.box)) for c in candidates[:CAPTION_HINTS]])
        spec = CaptionSpec(hints=hints, glossary=vocab.glossary_text)
        return str(caption(qwen, image, CaptionQuery(spec=spec))["caption"])

    return run


def prepass_image(
    models: ModelAccess, refs: PrepassModels, image: DecodedImage, vocab: Vocabulary, config: PrepassConfig,
    *, warnings: Sequence[str] = (), captioner: Captioner | None = None,
) -> PrepassResponse:  # fmt: skip
    """Run the pipeline on one decoded image; a caption failure is a warning, never a failed prepass."""
    started = time.perf_counter()
    result = run_prepass(models, refs, image.pixels, vocab.labelmap, vocab.glossary, config)
    trace = result.trace
    for warning in warnings:
        trace.warn(warning)
    text: str | None = None
    if captioner is not None:
        with trace.step("caption") as step:
            try:
                with trace.model_call():
                    text = captioner(image.to_pil(), result.candidates, vocab)
                step["summary"] = f"caption: {len(text)} characters"
            except TatorError as exc:
                trace.warn(f"caption_skipped:{exc.code}")
                step["summary"] = f"caption skipped: {exc.message}"
    return PrepassResponse(
        detections=[to_detection(c, image.width, image.height) for c in result.candidates],
        trace=trace.events, warnings=trace.warnings, caption=text, image_token=image.token,
        labelmap=vocab.labelmap,
        timings={"total_s": round(time.perf_counter() - started, 4), "model_s": round(trace.model_seconds, 4)},
    )  # fmt: skip

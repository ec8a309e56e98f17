"""One bounded generation: chat template, processor, `model.generate` with a per-token stop check.

Bounds: `max_new_tokens` (clamped by the caller) and a wall-clock deadline; both, and a cancel, are
checked by a stopping criterion at every decoding step. Images are resized by the processor between
`min_pixels` and `max_pixels`; the size it chose is returned because Qwen2.5-VL answers in its pixels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from tator.errors import QwenGenerationCancelled
from tator.qwen.loader import QwenHandle
from tator.qwen.runtime import Generation
from tator.runtime.timing import timed

log = logging.getLogger(__name__)

_END_MARKERS = ("<|im_end|>", "<|endoftext|>")


@dataclass(frozen=True)
class GenerationOptions:
    max_new_tokens: int
    min_pixels: int
    max_pixels: int
    system_prompt: str | None = None
    temperature: float | None = None  # None or 0: greedy decoding
    top_p: float | None = None
    min_new_tokens: int = 0


@dataclass(frozen=True)
class GenerationOutput:
    text: str
    model_size: tuple[int, int] | None  # width, height of the image after the processor's resize
    tokens: int
    stop_reason: str  # eos | max_new_tokens | timeout
    seconds: float


def _messages(prompt: str, with_image: bool, system_prompt: str | None) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "image"}] if with_image else []
    content.append({"type": "text", "text": prompt})
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    messages.append({"role": "user", "content": content})
    return messages


def chat_text(handle: QwenHandle, prompt: str, *, with_image: bool, system_prompt: str | None = None) -> str:
    """The exact text the model is fed (chat template applied, generation prompt appended)."""
    return str(
        handle.processor.apply_chat_template(
            _messages(prompt, with_image, system_prompt), add_generation_prompt=True, tokenize=False
        )
    )


def model_input_size(handle: QwenHandle, grid_thw: Any) -> tuple[int, int]:
    """(width, height) of the resized image from the processor's patch grid (t, h, w)."""
    patch = int(getattr(handle.processor.image_processor, "patch_size", 14) or 14)
    _, rows, cols = (int(v) for v in grid_thw[0].tolist())
    return cols * patch, rows * patch


def _stopper(gen: Generation) -> Any:
    import torch
    from transformers import StoppingCriteria

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            del scores, kwargs
            gen.tokens += 1
            gen.phase = "decoding"
            return torch.full((input_ids.shape[0],), gen.should_stop, dtype=torch.bool, device=input_ids.device)

    return _Stop()


def generate(
    handle: QwenHandle, image: Image.Image | None, prompt: str, options: GenerationOptions, gen: Generation
) -> GenerationOutput:
    """Generate an answer to `prompt` about `image`; raises QwenGenerationCancelled if cancelled."""
    import torch
    from transformers import StoppingCriteriaList

    started = time.perf_counter()
    text = chat_text(handle, prompt, with_image=image is not None, system_prompt=options.system_prompt)
    kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
    if image is not None:
        kwargs["images"] = [image]
        kwargs["images_kwargs"] = {"size": {"shortest_edge": options.min_pixels, "longest_edge": options.max_pixels}}
    inputs = handle.processor(**kwargs).to(handle.device)
    model_size = model_input_size(handle, inputs["image_grid_thw"]) if image is not None else None
    sampling: dict[str, Any] = {"do_sample": False}
    if options.temperature:
        sampling = {"do_sample": True, "temperature": options.temperature, "top_p": options.top_p or 1.0}
    prompt_len = int(inputs["input_ids"].shape[1])
    with torch.inference_mode(), timed("generate"):
        output = handle.model.generate(
            **inputs,
            max_new_tokens=options.max_new_tokens,
            min_new_tokens=options.min_new_tokens or None,
            stopping_criteria=StoppingCriteriaList([_stopper(gen)]),
            **sampling,
        )
    if gen.cancel.is_set():
        raise QwenGenerationCancelled("generation was cancelled", tokens=gen.tokens)
    new_tokens = output[0, prompt_len:]
    # Special tokens are kept (grounding tokens such as <|box_start|> carry boxes); only end markers go.
    answer = str(handle.processor.tokenizer.decode(new_tokens, skip_special_tokens=False))
    for marker in _END_MARKERS:
        answer = answer.replace(marker, "")
    count = int(new_tokens.shape[0])
    eos = handle.model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos]) if eos is not None else set()
    if count and int(new_tokens[-1]) in eos_ids:
        reason = "eos"
    elif gen.should_stop:
        reason = "timeout"
    else:
        reason = "max_new_tokens" if count >= options.max_new_tokens else "eos"
    seconds = time.perf_counter() - started
    log.info("qwen.generated op=%s tokens=%d reason=%s secs=%.2f", gen.op, count, reason, seconds)
    return GenerationOutput(answer, model_size, count, reason, seconds)

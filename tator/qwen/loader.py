"""Loads Qwen vision-language models (Qwen3-VL, Qwen2.5-VL) from transformers, inside the call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tator.runtime.device import module_bytes
from tator.runtime.loaders import LoadedModel, ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QwenHandle:
    """An image-text-to-text model and its processor (chat template, image and video processors)."""

    model: Any
    processor: Any
    device: str


def load(spec: ModelSpec, device: str) -> LoadedModel:
    """Load family `qwen` from `spec.source` (a local directory or a Hugging Face id) onto `device`.

    Weights keep the dtype they were saved in (`dtype="auto"`); option `dtype` (`float32`, `bfloat16`,
    `float16`) overrides it.
    """
    import transformers

    tf: Any = transformers
    started = time.perf_counter()
    dtype = spec.option("dtype", "auto")
    model = tf.AutoModelForImageTextToText.from_pretrained(spec.source, dtype=dtype).to(device).eval()
    processor = tf.AutoProcessor.from_pretrained(spec.source)
    log.info(
        "qwen.loaded source=%s device=%s model=%s secs=%.2f",
        spec.source,
        device,
        type(model).__name__,
        time.perf_counter() - started,
    )
    return LoadedModel(value=QwenHandle(model, processor, device), nbytes=module_bytes(model), device=device)

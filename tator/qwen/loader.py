"""Loads Qwen vision-language models (Qwen3-VL, Qwen2.5-VL) from transformers, inside the call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tator.errors import QwenModelUnsupported
from tator.runtime.device import module_bytes
from tator.runtime.loaders import LoadedModel, ModelSpec

log = logging.getLogger(__name__)

SUPPORTED_FAMILIES = ("qwen3_vl", "qwen3_vl_moe", "qwen2_5_vl", "qwen2_vl")


@dataclass(frozen=True)
class QwenHandle:
    """An image-text-to-text model and its processor (chat template, image and video processors).

    `family` is the config's `model_type` (`qwen3_vl`, `qwen2_5_vl`, ...): it decides the box convention.
    `adapter` is the LoRA adapter directory merged into the weights, if any.
    """

    model: Any
    processor: Any
    device: str
    family: str = "qwen3_vl"
    adapter: str | None = None


def model_family(source: str) -> str:
    """The `model_type` of a local directory or hub id (reads only its config)."""
    import transformers

    tf: Any = transformers
    return str(tf.AutoConfig.from_pretrained(source).model_type)


def load(spec: ModelSpec, device: str) -> LoadedModel:
    """Load family `qwen` from `spec.source` (a local directory or a Hugging Face id) onto `device`.

    Weights keep the dtype they were saved in (`dtype="auto"`); option `dtype` (`float32`, `bfloat16`,
    `float16`) overrides it. Option `adapter` names a LoRA adapter directory (peft) merged into the model.
    """
    import transformers

    tf: Any = transformers
    started = time.perf_counter()
    family = model_family(spec.source)
    if family not in SUPPORTED_FAMILIES:
        raise QwenModelUnsupported(f"{spec.source} is a {family!r} model, not Qwen-VL", model_type=family)
    dtype = spec.option("dtype", "auto")
    remote = spec.option("trust_remote_code") == "1"
    model = tf.AutoModelForImageTextToText.from_pretrained(spec.source, dtype=dtype, trust_remote_code=remote)
    adapter = spec.option("adapter")
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model = model.to(device).eval()
    processor = tf.AutoProcessor.from_pretrained(spec.source, trust_remote_code=remote)
    log.info(
        "qwen.loaded source=%s adapter=%s device=%s family=%s secs=%.2f",
        spec.source,
        adapter,
        device,
        family,
        time.perf_counter() - started,
    )
    handle = QwenHandle(model, processor, device, family, adapter)
    return LoadedModel(value=handle, nbytes=module_bytes(model), device=device)

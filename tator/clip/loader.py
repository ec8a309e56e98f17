"""Loads the image/text embedders (CLIP, DINOv3) from transformers, inside the call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tator.runtime.catalog import resolve_clip_name
from tator.runtime.device import module_bytes
from tator.runtime.loaders import LoadedModel, ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipHandle:
    """`CLIPModel` + `CLIPProcessor`; embeddings are the projected `pooler_output` of the feature calls."""

    model: Any
    processor: Any
    device: str


@dataclass(frozen=True)
class Dinov3Handle:
    """A DINOv3 backbone (`AutoModel`, e.g. `DINOv3ViTModel`) and its image processor."""

    model: Any
    processor: Any
    device: str


def load_clip(spec: ModelSpec, device: str) -> LoadedModel:
    """Load family `clip` onto `device`; `spec.source` is a local directory, a Hugging Face id, or an OpenAI
    name such as `ViT-B/32` (see `tator.runtime.catalog.CLIP_NAME_ALIASES`)."""
    import transformers

    tf: Any = transformers
    started = time.perf_counter()
    source = resolve_clip_name(spec.source)
    model = tf.CLIPModel.from_pretrained(source).to(device).eval()
    processor = tf.CLIPProcessor.from_pretrained(source)
    log.info("clip.loaded source=%s device=%s secs=%.2f", source, device, time.perf_counter() - started)
    return LoadedModel(value=ClipHandle(model, processor, device), nbytes=module_bytes(model), device=device)


def load_dinov3(spec: ModelSpec, device: str) -> LoadedModel:
    """Load family `dinov3` from `spec.source` (a local directory or a Hugging Face id) onto `device`."""
    import transformers

    tf: Any = transformers
    started = time.perf_counter()
    model = tf.AutoModel.from_pretrained(spec.source).to(device).eval()
    processor = tf.AutoImageProcessor.from_pretrained(spec.source)
    log.info("dinov3.loaded source=%s device=%s secs=%.2f", spec.source, device, time.perf_counter() - started)
    return LoadedModel(value=Dinov3Handle(model, processor, device), nbytes=module_bytes(model), device=device)

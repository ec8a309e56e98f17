"""Loads SAM3 (text/box prompts), the SAM3 tracker (point/box prompts) and classic SAM (`sam1`, point/box
prompts) from transformers, inside the call."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tator.runtime.device import module_bytes
from tator.runtime.loaders import LoadedModel, ModelSpec

log = logging.getLogger(__name__)
# Option of a `sam3_tracker` spec: a fine-tuned SAM3 checkpoint whose image encoder the tracker uses (SAM3's
# detector and tracker share one image encoder, so point and box prompts see the fine-tuned features).
VISION_FROM = "vision_from"


@dataclass(frozen=True)
class Sam3Handle:
    """`Sam3Model` + `Sam3Processor`: concept segmentation from text and/or box prompts."""

    model: Any
    processor: Any
    device: str


@dataclass(frozen=True)
class Sam3TrackerHandle:
    """`Sam3TrackerModel` + `Sam3TrackerProcessor`: SAM2-style masks from point and box prompts."""

    model: Any
    processor: Any
    device: str


@dataclass(frozen=True)
class SamHandle:
    """Classic `SamModel` + `SamProcessor` (`sam_variant: sam1`): masks from point and box prompts."""

    model: Any
    processor: Any
    device: str


def load_sam3(spec: ModelSpec, device: str) -> LoadedModel:
    """Load family `sam3` from `spec.source` (a local directory or a Hugging Face id) onto `device`."""
    import transformers

    tf: Any = transformers
    started = time.perf_counter()
    model = tf.Sam3Model.from_pretrained(spec.source).to(device).eval()
    processor = tf.Sam3Processor.from_pretrained(spec.source)
    log.info("sam3.loaded source=%s device=%s secs=%.2f", spec.source, device, time.perf_counter() - started)
    return LoadedModel(value=Sam3Handle(model, processor, device), nbytes=module_bytes(model), device=device)


def load_sam3_tracker(spec: ModelSpec, device: str) -> LoadedModel:
    """Load family `sam3_tracker` from `spec.source` (a local directory or a Hugging Face id) onto `device`."""
    import transformers

    tf: Any = transformers
    started = time.perf_counter()
    model = tf.Sam3TrackerModel.from_pretrained(spec.source)
    vision_from = spec.option(VISION_FROM)
    if vision_from:
        # strict: a checkpoint whose encoder does not fit the tracker fails the load (model_load_failed)
        detector = tf.Sam3Model.from_pretrained(vision_from)
        model.vision_encoder.load_state_dict(detector.vision_encoder.state_dict(), strict=True)
        del detector
    model = model.to(device).eval()
    processor = tf.Sam3TrackerProcessor.from_pretrained(spec.source)
    log.info("sam3_tracker.loaded source=%s vision_from=%s device=%s secs=%.2f", spec.source, vision_from, device,
             time.perf_counter() - started)  # fmt: skip
    return LoadedModel(value=Sam3TrackerHandle(model, processor, device), nbytes=module_bytes(model), device=device)


def load_sam1(spec: ModelSpec, device: str) -> LoadedModel:
    """Load family `sam1` (classic SAM) from `spec.source` (a local directory or a Hugging Face id) onto `device`."""
    import transformers

    tf: Any = transformers
    started = time.perf_counter()
    model = tf.SamModel.from_pretrained(spec.source).to(device).eval()
    processor = tf.SamProcessor.from_pretrained(spec.source)
    log.info("sam1.loaded source=%s device=%s secs=%.2f", spec.source, device, time.perf_counter() - started)
    return LoadedModel(value=SamHandle(model, processor, device), nbytes=module_bytes(model), device=device)

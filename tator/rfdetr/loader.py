"""Loads RF-DETR detectors for the model registry. rfdetr is imported only inside `load`."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from tator.runtime.device import module_bytes
from tator.runtime.loaders import LoadedModel, ModelSpec

log = logging.getLogger(__name__)

# Variant names (the library's default weights, downloaded by rfdetr) -> rfdetr classes.
VARIANTS: dict[str, str] = {
    "rfdetr-nano": "RFDETRNano",
    "rfdetr-small": "RFDETRSmall",
    "rfdetr-medium": "RFDETRMedium",
    "rfdetr-large": "RFDETRLarge",
    "rfdetr-base": "RFDETRBase",
    "rfdetr-seg-nano": "RFDETRSegNano",
    "rfdetr-seg-small": "RFDETRSegSmall",
    "rfdetr-seg-medium": "RFDETRSegMedium",
    "rfdetr-seg-large": "RFDETRSegLarge",
    "rfdetr-seg-xlarge": "RFDETRSegXLarge",
    "rfdetr-seg-2xlarge": "RFDETRSeg2XLarge",
}


@dataclass(frozen=True)
class RfdetrHandle:
    """A loaded `rfdetr.RFDETR` model, its class names (index = class id) and input resolution in pixels."""

    model: Any  # rfdetr.RFDETR subclass
    class_names: tuple[str, ...]
    resolution: int
    device: str


def load(spec: ModelSpec, device: str) -> LoadedModel:
    """Load `spec.source` onto `device`: a checkpoint path (`.pth`/`.ckpt`, architecture and class names read
    from it) or a variant name from `VARIANTS`. Option `resolution` (pixels, a multiple of 32) overrides it."""
    import rfdetr as rfdetr_module

    rfdetr: Any = rfdetr_module
    started = time.perf_counter()
    kwargs: dict[str, Any] = {"device": device}
    resolution = spec.option("resolution")
    if resolution is not None:
        kwargs["resolution"] = int(resolution)
    variant = VARIANTS.get(spec.source.strip().lower())
    if variant is not None:
        model = getattr(rfdetr, variant)(**kwargs)
    else:
        model = rfdetr.RFDETR.from_checkpoint(spec.source, **kwargs)
    module = model.model.model
    module.eval()
    handle = RfdetrHandle(
        model=model,
        class_names=tuple(str(name) for name in model.class_names),
        resolution=int(model.model.resolution),
        device=device,
    )
    log.info(
        "rfdetr.loaded source=%s device=%s classes=%d resolution=%d secs=%.2f",
        spec.source,
        device,
        len(handle.class_names),
        handle.resolution,
        time.perf_counter() - started,
    )
    return LoadedModel(value=handle, nbytes=module_bytes(module), device=device)

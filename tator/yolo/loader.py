"""Loads ultralytics detectors for the model registry. ultralytics is imported only inside `load`."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tator.errors import ModelNotFound
from tator.runtime.device import module_bytes
from tator.runtime.loaders import LoadedModel, ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class YoloHandle:
    """A loaded `ultralytics.YOLO`, the device it sits on and its class names (id -> name)."""

    model: Any  # ultralytics.YOLO
    names: dict[int, str]
    task: str
    device: str


def load(spec: ModelSpec, device: str) -> LoadedModel:
    """Load `spec.source` (a `.pt` checkpoint, a model `.yaml`, or an ultralytics weight name) onto `device`.

    A `.yaml` gives random weights (for training from scratch). A name that is not a local file is downloaded
    by ultralytics unless it runs offline. Option `task` overrides the task guessed from the checkpoint.
    """
    source = Path(spec.source)
    if source.suffix == ".pt" and not source.exists() and os.environ.get("YOLO_OFFLINE"):
        # ultralytics would try to download a missing .pt from GitHub; offline that is a plain miss.
        raise ModelNotFound(f"YOLO weights {spec.source} not found (offline: no download)", source=spec.source)
    import ultralytics

    lib: Any = ultralytics
    started = time.perf_counter()
    yolo = lib.YOLO(spec.source, task=spec.option("task"), verbose=False)
    yolo.model.to(device)
    yolo.model.eval()
    handle = YoloHandle(
        model=yolo,
        names={int(k): str(v) for k, v in dict(yolo.names).items()},
        task=str(yolo.task),
        device=device,
    )
    nbytes = module_bytes(yolo.model)
    log.info(
        "yolo.loaded source=%s device=%s classes=%d secs=%.2f",
        spec.source,
        device,
        len(handle.names),
        time.perf_counter() - started,
    )
    return LoadedModel(value=handle, nbytes=nbytes, device=device)

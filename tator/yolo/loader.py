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
    """A loaded `ultralytics.YOLO`, the device it sits on and its class names (id -> name).

    With `reads_rgb` the network's first convolution takes its input channels in reverse order
    (`read_rgb_as_given`): give `model` RGB arrays, not the BGR ones ultralytics expects by default, and do
    not save or export it. `tator.yolo.infer.batch_detector` is its one caller and knows both cases."""

    model: Any  # ultralytics.YOLO
    names: dict[int, str]
    task: str
    device: str
    reads_rgb: bool = False


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
        reads_rgb=read_rgb_as_given(yolo.model),
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


def read_rgb_as_given(network: Any) -> bool:
    """Let the network take our RGB pixels as they are. ultralytics treats a numpy image as BGR and
    reverses its channels (after letterboxing) before the first layer; our images are RGB, and copying
    each one into BGR order first cost 0.7-0.9 ms per 1280x960 predict, the largest step of the server's
    own work (tools/bench/predict_overhead.py). Reversing the input channels of the first convolution's
    weights once instead makes conv(W', reversed(RGB)) = conv(W, RGB): the same network function, by
    linearity, up to float summation order. Only the first layer reads the image (ultralytics feeds layer 0
    the input and every later layer an earlier output). False, and the network untouched, when that layer
    is not a plain 3-channel convolution."""
    import torch

    layers = getattr(network, "model", None)
    first = layers[0] if isinstance(layers, torch.nn.Sequential) and len(layers) else None
    conv = getattr(first, "conv", None)
    if getattr(first, "f", None) != -1 or not isinstance(conv, torch.nn.Conv2d):
        return False
    if conv.in_channels != 3 or conv.groups != 1:
        return False
    with torch.no_grad():
        conv.weight.copy_(conv.weight.flip(1))
    return True

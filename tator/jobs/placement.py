"""Where a training job runs when its request names an `accelerator` and/or `devices` (the contract's
fields): honoured when this server can, refused with the family's code when it cannot."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tator.errors import TatorError, TrainingOptionUnsupported

ACCELERATORS = ("auto", "cuda", "mps", "cpu")


@dataclass(frozen=True)
class PlacementErrors:
    cuda_unavailable: type[TatorError]
    mps_unavailable: type[TatorError] | None = None  # None: the family has no MPS code; the generic one is used


def requested_device(
    accelerator: str, devices: Sequence[int] | None, *, gpus: Sequence[str], errors: PlacementErrors
) -> str | None:
    """The device to pin the job to, or None for the scheduler's choice (a free GPU, else the CPU pool).

    `cpu` pins to the CPU pool; one device index pins to that GPU; `cuda` without an index needs some GPU.
    MPS (Apple) and multi-GPU (DDP) training are not available here and are refused."""
    if accelerator == "mps":
        error = errors.mps_unavailable or TrainingOptionUnsupported
        raise error("MPS (Apple GPU) training is not available on this server", option="accelerator")
    wanted = list(devices or [])
    if accelerator == "cpu":
        if wanted:
            raise TrainingOptionUnsupported("devices name GPUs; drop them to train on the CPU", option="devices")
        return "cpu"
    if len(wanted) > 1:
        raise TrainingOptionUnsupported("multi-GPU training is not supported: name one device", option="devices")
    if wanted:
        device = f"cuda:{wanted[0]}"
        if device not in gpus:
            raise errors.cuda_unavailable(f"CUDA device {wanted[0]} is not available", available=", ".join(gpus))
        return device
    if accelerator == "cuda" and not gpus:
        raise errors.cuda_unavailable("no CUDA device is available on this server", available="")
    return None

"""Where a training job runs for the contract's `accelerator` / `devices` fields."""

from __future__ import annotations

import pytest

from tator.errors import (
    TatorError,
    TrainingOptionUnsupported,
    YoloCudaDevicesUnavailable,
    YoloMpsUnavailable,
)
from tator.jobs.placement import PlacementErrors, requested_device

ERRORS = PlacementErrors(YoloCudaDevicesUnavailable, YoloMpsUnavailable)
GPUS = ["cuda:0", "cuda:1"]


@pytest.mark.parametrize(
    ("accelerator", "devices", "gpus", "expected"),
    [
        ("auto", None, GPUS, None),  # the scheduler picks the least busy GPU
        ("auto", None, [], None),  # ... or the CPU pool
        ("cpu", None, GPUS, "cpu"),
        ("cpu", [], GPUS, "cpu"),
        ("cuda", None, GPUS, None),
        ("cuda", [1], GPUS, "cuda:1"),
        ("auto", [0], GPUS, "cuda:0"),
    ],
)
def test_honoured(accelerator: str, devices: list[int] | None, gpus: list[str], expected: str | None) -> None:
    assert requested_device(accelerator, devices, gpus=gpus, errors=ERRORS) == expected


@pytest.mark.parametrize(
    ("accelerator", "devices", "gpus", "error"),
    [
        ("mps", None, GPUS, YoloMpsUnavailable),
        ("cuda", None, [], YoloCudaDevicesUnavailable),
        ("auto", [2], GPUS, YoloCudaDevicesUnavailable),
        ("auto", [0, 1], GPUS, TrainingOptionUnsupported),
        ("cpu", [0], GPUS, TrainingOptionUnsupported),
    ],
)
def test_refused(accelerator: str, devices: list[int] | None, gpus: list[str], error: type[TatorError]) -> None:
    with pytest.raises(error):
        requested_device(accelerator, devices, gpus=gpus, errors=ERRORS)


def test_a_family_without_an_mps_code_gets_the_generic_refusal() -> None:
    with pytest.raises(TrainingOptionUnsupported):
        requested_device("mps", None, gpus=[], errors=PlacementErrors(YoloCudaDevicesUnavailable))

"""The model libraries as untyped handles (their own stubs are partial), and a seeded torch RNG scope.

Each accessor imports its library on first call, so importing `tator.zoo` stays light.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def transformers_module() -> Any:
    import transformers

    return transformers


def ultralytics_module() -> Any:
    import ultralytics

    return ultralytics


def rfdetr_module() -> Any:
    import rfdetr

    return rfdetr


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU RNG for the block, then restore the caller's RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield

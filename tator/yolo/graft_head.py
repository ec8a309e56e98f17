"""The one layer a head graft adds: the base class conv and a new class conv, side by side.

Checkpoints of grafted runs pickle this class by name, so it must stay importable at this path. It imports
torch at module level (it subclasses nn.Module); only the graft code and checkpoint loading import it.
"""

from __future__ import annotations

import torch
from torch import nn


class GraftedClassConv(nn.Module):
    """Class logits of a Detect level: `base` (the base model's last class conv, untouched) followed by
    `new` (a 1x1 conv with one row per added class). The base logits come out of the very same conv, with
    the same shapes, as in the base model, so they are bit-identical; a single widened conv is not (its
    kernels may accumulate in another order)."""

    def __init__(self, base: nn.Module, new: nn.Conv2d) -> None:
        super().__init__()
        self.base = base
        self.new = new

    @property
    def in_channels(self) -> int:  # ultralytics' DetectionModel.load() reads these off the last class layer
        return int(self.new.in_channels)

    @property
    def out_channels(self) -> int:
        return int(getattr(self.base, "out_channels", 0)) + int(self.new.out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.base(x), self.new(x)), 1)

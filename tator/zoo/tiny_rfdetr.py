"""A random-weight RF-DETR Nano checkpoint in the layout RF-DETR's own training writes (`model` + `args`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tator.zoo.tiny_libs import rfdetr_module, seeded

# Not `rf-detr-nano.pth`: RF-DETR matches that name against its download registry and checks the MD5.
CHECKPOINT_NAME = "tator-tiny-rfdetr-nano.pth"
RESOLUTION = 128  # a multiple of patch 16 x 2 windows, the smallest that keeps predict around 50 ms on a CPU


def build_tiny_rfdetr(dest: Path, classes: Sequence[str], *, seed: int, resolution: int = RESOLUTION) -> Path:
    """Build `RFDETRNano(pretrain_weights=None)` for `classes` and save it so `RFDETR.from_checkpoint` and
    `RFDETRNano(pretrain_weights=path, resolution=...)` reload it offline with the class names."""
    import torch

    rfdetr = rfdetr_module()
    dest.mkdir(parents=True, exist_ok=True)
    with seeded(seed):
        model = rfdetr.RFDETRNano(pretrain_weights=None, num_classes=len(classes), resolution=resolution, device="cpu")
    config = model.model_config
    args = {
        "class_names": list(classes),
        "num_classes": len(classes),
        "resolution": resolution,
        "num_queries": config.num_queries,
        "group_detr": config.group_detr,
        "pretrain_weights": None,
    }
    model_config = config.model_dump(mode="json") | {"model_name": "RFDETRNano", "pretrain_weights": None}
    checkpoint = {
        "model": model.model.model.state_dict(),
        "args": args,
        "model_name": "RFDETRNano",
        "model_config": model_config,
    }
    path = dest / CHECKPOINT_NAME
    torch.save(checkpoint, path)
    return path

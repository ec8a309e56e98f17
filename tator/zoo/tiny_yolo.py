"""A tiny ultralytics detector: a YOLOv8-layout yaml at 1/8 width, saved as a regular `.pt` checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tator.zoo.tiny_libs import seeded, ultralytics_module

YAML_NAME = "tator-tiny-yolo.yaml"
CHECKPOINT_NAME = "tator-tiny-yolo.pt"

# YOLOv8 backbone/head layout with tiny multiples (~0.9M parameters); `nc` is filled in per build.
_YAML_BODY = """\
depth_multiple: 0.33
width_multiple: 0.125
max_channels: 256
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 3, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 6, C2f, [256, True]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [-1, 6, C2f, [512, True]]
  - [-1, 1, Conv, [1024, 3, 2]]
  - [-1, 3, C2f, [1024, True]]
  - [-1, 1, SPPF, [1024, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 6], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 4], 1, Concat, [1]]
  - [-1, 3, C2f, [256]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [[-1, 12], 1, Concat, [1]]
  - [-1, 3, C2f, [512]]
  - [-1, 1, Conv, [512, 3, 2]]
  - [[-1, 9], 1, Concat, [1]]
  - [-1, 3, C2f, [1024]]
  - [[15, 18, 21], 1, Detect, [nc]]
"""


def tiny_yolo_yaml(classes: Sequence[str]) -> str:
    """The model yaml text for `len(classes)` classes."""
    return f"# Tator tiny YOLO (random weights, for offline tests)\nnc: {len(classes)}\n{_YAML_BODY}"


def build_tiny_yolo(dest: Path, classes: Sequence[str], *, seed: int) -> tuple[Path, Path]:
    """Write the yaml and a random-weight checkpoint with `classes` as names; returns (checkpoint, yaml)."""
    ultralytics = ultralytics_module()
    dest.mkdir(parents=True, exist_ok=True)
    yaml_path = dest / YAML_NAME
    yaml_path.write_text(tiny_yolo_yaml(classes), encoding="utf-8")
    with seeded(seed):
        model = ultralytics.YOLO(str(yaml_path), task="detect", verbose=False)
    model.model.names = dict(enumerate(classes))
    # The zoo is built in a staging dir and renamed, so keep no absolute path inside the checkpoint.
    model.model.yaml["yaml_file"] = YAML_NAME
    checkpoint = dest / CHECKPOINT_NAME
    model.save(str(checkpoint))
    return checkpoint, yaml_path

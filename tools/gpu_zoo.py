"""A "larger" zoo for `make validate-gpu`: the tiny zoo with every family replaced in place by a random-weight model
of a real size (same paths and manifest, so a server started with TATOR_MODEL_ZOO=tiny on it uses them).

    yolo        YOLOv8s layout (ultralytics' own yolov8s.yaml), the tiny zoo's class names
    yolo_yaml   kept (the tiny yaml; only training from scratch reads it)
    rfdetr      RF-DETR Nano at its full 384 px resolution
    sam3        Sam3Model and Sam3TrackerModel from their default configs
    sam1        SamModel default config (ViT-B image encoder)
    clip        CLIPModel default config (ViT-B/32, 224 px) with the tiny zoo's tokenizer
    dinov3      DINOv3 ViT-S/16, 224 px
    qwen        Qwen3-VL-2B layer sizes (tools/bench/qwen.py) in bf16; Qwen2.5-VL kept tiny

Nothing is downloaded; the weights are random (speed and memory do not depend on their values).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
sys.path.insert(0, str(TOOLS.parent))

from bench.qwen import _full_qwen3  # noqa: E402
from bench.sam import _full_sam3_dir, _full_tracker_dir  # noqa: E402

DESCRIPTION = {
    "yolo": "YOLOv8s layout",
    "rfdetr": "RF-DETR Nano, 384 px",
    "sam3": "SAM3 default config",
    "sam3_tracker": "SAM3 tracker default config",
    "sam1": "SAM ViT-B default config",
    "clip": "CLIP ViT-B/32",
    "dinov3": "DINOv3 ViT-S/16",
    "qwen3_vl": "Qwen3-VL-2B layer sizes (bf16)",
}


def _replace_dir(target: Path, build: Callable[[Path], Path]) -> None:
    """`build(scratch)` returns the new model folder (builders may still read the tiny files); it replaces `target`."""
    scratch = target.with_name(target.name + ".larger")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    built = build(scratch)
    shutil.rmtree(target)
    built.rename(target)
    shutil.rmtree(scratch, ignore_errors=True)


def _yolo(checkpoint: Path) -> None:
    import ultralytics

    names = ultralytics.YOLO(str(checkpoint)).model.names
    model = ultralytics.YOLO("yolov8s.yaml", task="detect", verbose=False)
    model.model.names = dict(names)
    model.model.yaml["nc"] = len(names)
    model.save(str(checkpoint))


def _yolo_classes(checkpoint: Path) -> list[str]:
    import ultralytics

    return list(ultralytics.YOLO(str(checkpoint)).model.names.values())


def _clip(tiny: Path, dest: Path) -> Path:
    import transformers as tf

    tokenizer = tf.CLIPProcessor.from_pretrained(tiny).tokenizer
    ids = ("bos_token_id", "eos_token_id", "pad_token_id")
    text = {"vocab_size": len(tokenizer), **{name: getattr(tokenizer, name) for name in ids}}
    tf.CLIPModel(tf.CLIPConfig(text_config=text)).eval().save_pretrained(dest)
    tf.CLIPProcessor(image_processor=tf.CLIPImageProcessor(), tokenizer=tokenizer).save_pretrained(dest)
    return dest


def _dinov3(dest: Path) -> Path:
    import transformers as tf

    config = tf.DINOv3ViTConfig(hidden_size=384, intermediate_size=1536, num_attention_heads=6)
    tf.DINOv3ViTModel(config).eval().save_pretrained(dest)
    tf.DINOv3ViTImageProcessor().save_pretrained(dest)
    return dest


def _sam1(dest: Path) -> Path:
    import transformers as tf

    tf.SamModel(tf.SamConfig()).eval().save_pretrained(dest)
    tf.SamProcessor(image_processor=tf.SamImageProcessor()).save_pretrained(dest)
    return dest


def build_larger_zoo(tiny_zoo: Path, dest: Path) -> dict[str, str]:
    """Copy `tiny_zoo` (a complete tiny zoo with its manifest) to `dest` and swap in the larger models."""
    from tator.zoo.tiny_rfdetr import build_tiny_rfdetr

    shutil.copytree(tiny_zoo, dest)
    paths = {family: dest / rel for family, rel in json.loads((dest / "manifest.json").read_text())["paths"].items()}
    classes = _yolo_classes(paths["yolo"])
    _yolo(paths["yolo"])
    _replace_dir(paths["rfdetr"].parent, lambda d: build_tiny_rfdetr(d / "m", classes, seed=0, resolution=384).parent)
    builders: dict[str, Callable[[Path], Path]] = {
        "sam3": lambda d: _full_sam3_dir(d, paths["sam3"]),
        "sam3_tracker": _full_tracker_dir,
        "sam1": lambda d: _sam1(d / "m"),
        "clip": lambda d: _clip(paths["clip"], d / "m"),
        "dinov3": lambda d: _dinov3(d / "m"),
        "qwen3_vl": lambda d: _full_qwen3(d / "m", paths["qwen3_vl"]),
    }
    for family, build in builders.items():
        _replace_dir(paths[family], build)
    return DESCRIPTION

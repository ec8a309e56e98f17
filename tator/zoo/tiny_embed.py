"""Tiny image/text embedders: CLIP (`CLIPModel` + `CLIPProcessor`) and DINOv3 (`DINOv3ViTModel`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tator.zoo.tiny_libs import seeded, transformers_module
from tator.zoo.tiny_text import clip_tokenizer

IMAGE_SIZE = 64
HIDDEN = 32
LAYER: dict[str, Any] = {
    "hidden_size": HIDDEN,
    "intermediate_size": 2 * HIDDEN,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
}


def build_tiny_clip(dest: Path, *, seed: int) -> Path:
    """Save a tiny `CLIPModel` + `CLIPProcessor` (64 px images, locally trained tokenizer) under `dest`."""
    tf = transformers_module()
    tokenizer = clip_tokenizer()
    config = tf.CLIPConfig(
        text_config={
            **LAYER,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": 77,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={**LAYER, "image_size": IMAGE_SIZE, "patch_size": 16},
        projection_dim=HIDDEN,
    )
    with seeded(seed):
        model = tf.CLIPModel(config).eval()
    image_processor = tf.CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    model.save_pretrained(dest)
    tf.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(dest)
    return dest


def build_tiny_dinov3(dest: Path, *, seed: int) -> Path:
    """Save a tiny `DINOv3ViTModel` + `DINOv3ViTImageProcessor` (64 px, patch 16, 4 registers) under `dest`."""
    tf = transformers_module()
    config = tf.DINOv3ViTConfig(**LAYER, image_size=IMAGE_SIZE, patch_size=16, num_register_tokens=4)
    with seeded(seed):
        model = tf.DINOv3ViTModel(config).eval()
    model.save_pretrained(dest)
    tf.DINOv3ViTImageProcessor(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(dest)
    return dest

"""Tiny SAM3 models (transformers `Sam3Model` for text/box prompts, `Sam3TrackerModel` for points/boxes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tator.zoo.tiny_libs import seeded, transformers_module
from tator.zoo.tiny_text import clip_tokenizer

IMAGE_SIZE = 224  # 16 x 16 patches of 14 px: the smallest size the windowed ViT and FPN scales divide
HIDDEN = 32
LAYER: dict[str, Any] = {"hidden_size": HIDDEN, "num_attention_heads": 4, "intermediate_size": 2 * HIDDEN}


def _image_processor(tf: Any) -> Any:
    return tf.Sam3ImageProcessor(
        size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        mask_size={"height": IMAGE_SIZE // 4, "width": IMAGE_SIZE // 4},
    )


def _vision_config(tf: Any, **extra: Any) -> Any:
    backbone = tf.Sam3ViTConfig(
        **LAYER,
        num_hidden_layers=2,
        image_size=IMAGE_SIZE,
        patch_size=14,
        window_size=8,
        global_attn_indexes=[0, 1],
    )
    return tf.Sam3VisionConfig(backbone_config=backbone, fpn_hidden_size=HIDDEN, **extra)


def build_tiny_sam3(dest: Path, *, seed: int) -> Path:
    """Save a tiny `Sam3Model` + `Sam3Processor` (locally trained CLIP tokenizer) under `dest`."""
    tf = transformers_module()
    tokenizer = clip_tokenizer()
    config = tf.Sam3Config(
        vision_config=_vision_config(tf),
        # The processor always pads prompts to 32 tokens, so the text encoder needs 32 positions.
        text_config={
            **LAYER,
            "vocab_size": len(tokenizer),
            "projection_dim": HIDDEN,
            "num_hidden_layers": 2,
            "max_position_embeddings": 32,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        geometry_encoder_config=tf.Sam3GeometryEncoderConfig(num_layers=1, **LAYER),
        detr_encoder_config=tf.Sam3DETREncoderConfig(num_layers=1, **LAYER),
        detr_decoder_config=tf.Sam3DETRDecoderConfig(num_layers=1, num_queries=10, **LAYER),
        mask_decoder_config=tf.Sam3MaskDecoderConfig(hidden_size=HIDDEN),
    )
    with seeded(seed):
        model = tf.Sam3Model(config).eval()
    model.save_pretrained(dest)
    tf.Sam3Processor(image_processor=_image_processor(tf), tokenizer=tokenizer).save_pretrained(dest)
    return dest


def build_tiny_sam3_tracker(dest: Path, *, seed: int) -> Path:
    """Save a tiny `Sam3TrackerModel` + `Sam3TrackerProcessor` (point and box prompts) under `dest`."""
    tf = transformers_module()
    # The tracker reads its FPN levels at these sizes: 224/14 = 16 patches, upscaled x4, x2, x1.
    sizes = [[64, 64], [32, 32], [16, 16]]
    config = tf.Sam3TrackerConfig(
        vision_config=_vision_config(tf, backbone_feature_sizes=sizes),
        prompt_encoder_config=tf.Sam3TrackerPromptEncoderConfig(hidden_size=HIDDEN, image_size=IMAGE_SIZE),
        mask_decoder_config=tf.Sam3TrackerMaskDecoderConfig(
            hidden_size=HIDDEN, mlp_dim=2 * HIDDEN, num_attention_heads=4, iou_head_hidden_dim=HIDDEN
        ),
    )
    with seeded(seed):
        model = tf.Sam3TrackerModel(config).eval()
    model.save_pretrained(dest)
    tf.Sam3TrackerProcessor(image_processor=_image_processor(tf)).save_pretrained(dest)
    return dest

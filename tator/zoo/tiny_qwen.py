"""Tiny Qwen vision-language models (Qwen3-VL and Qwen2.5-VL) with their processors and a ChatML template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tator.zoo.tiny_libs import seeded, transformers_module
from tator.zoo.tiny_text import QWEN_CHAT_TEMPLATE, qwen_tokenizer

TEXT_HIDDEN = 64
HEADS = 4
# Multimodal rope splits head_dim/2 = 8 rotary pairs over (time, height, width).
MROPE_SECTION = [2, 3, 3]


def _text_config(tokenizer: Any) -> dict[str, Any]:
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": TEXT_HIDDEN,
        "intermediate_size": 2 * TEXT_HIDDEN,
        "num_hidden_layers": 2,
        "num_attention_heads": HEADS,
        "num_key_value_heads": 2,
        "head_dim": TEXT_HIDDEN // HEADS,
        "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": MROPE_SECTION},
        "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tokenizer.pad_token_id,
    }


def _token_ids(tokenizer: Any) -> dict[str, int]:
    names = {
        "image_token_id": "<|image_pad|>",
        "video_token_id": "<|video_pad|>",
        "vision_start_token_id": "<|vision_start|>",
        "vision_end_token_id": "<|vision_end|>",
    }
    return {key: int(tokenizer.convert_tokens_to_ids(token)) for key, token in names.items()}


def _save(model: Any, processor: Any, tokenizer: Any, dest: Path) -> Path:
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    model.generation_config.do_sample = False
    model.save_pretrained(dest)
    processor.save_pretrained(dest)
    return dest


def build_tiny_qwen3_vl(dest: Path, *, seed: int) -> Path:
    """Save a tiny `Qwen3VLForConditionalGeneration` + `Qwen3VLProcessor` (patch 16, merge 2) under `dest`."""
    tf = transformers_module()
    tokenizer = qwen_tokenizer()
    config = tf.Qwen3VLConfig(
        text_config=_text_config(tokenizer),
        # num_position_embeddings must be a square; deepstack layers must exist in the vision tower.
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": HEADS,
            "out_hidden_size": TEXT_HIDDEN,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [1],
            "patch_size": 16,
        },
        **_token_ids(tokenizer),
    )
    with seeded(seed):
        model = tf.Qwen3VLForConditionalGeneration(config).eval()
    processor = tf.Qwen3VLProcessor(
        image_processor=tf.Qwen2VLImageProcessor(min_pixels=64 * 64, max_pixels=128 * 128, patch_size=16),
        tokenizer=tokenizer,
        video_processor=tf.Qwen3VLVideoProcessor(),
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    return _save(model, processor, tokenizer, dest)


def build_tiny_qwen2_5_vl(dest: Path, *, seed: int) -> Path:
    """Save a tiny `Qwen2_5_VLForConditionalGeneration` + `Qwen2_5_VLProcessor` (patch 14) under `dest`."""
    tf = transformers_module()
    tokenizer = qwen_tokenizer()
    config = tf.Qwen2_5_VLConfig(
        text_config=_text_config(tokenizer),
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": HEADS,
            "out_hidden_size": TEXT_HIDDEN,
            "window_size": 56,
            "fullatt_block_indexes": [1],
        },
        **_token_ids(tokenizer),
    )
    with seeded(seed):
        model = tf.Qwen2_5_VLForConditionalGeneration(config).eval()
    processor = tf.Qwen2_5_VLProcessor(
        image_processor=tf.Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112),
        tokenizer=tokenizer,
        # The processor refuses to build without a video processor, even for image-only use.
        video_processor=tf.Qwen2VLVideoProcessor(),
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    return _save(model, processor, tokenizer, dest)

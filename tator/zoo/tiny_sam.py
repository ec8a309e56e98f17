"""Tiny classic SAM (transformers `SamModel` + `SamProcessor`): point and box prompts for `sam_variant: sam1`."""

from __future__ import annotations

from pathlib import Path

from tator.zoo.tiny_libs import seeded, transformers_module

IMAGE_SIZE = 128  # 8 x 8 patches of 16 px; the processor resizes the longest side to this and pads
HIDDEN = 32


def build_tiny_sam(dest: Path, *, seed: int) -> Path:
    """Save a tiny `SamModel` + `SamProcessor` under `dest`."""
    tf = transformers_module()
    config = tf.SamConfig(
        vision_config=tf.SamVisionConfig(
            hidden_size=HIDDEN,
            output_channels=HIDDEN,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=IMAGE_SIZE,
            patch_size=16,
            window_size=4,
            global_attn_indexes=[1],
            num_pos_feats=HIDDEN // 2,
            mlp_dim=2 * HIDDEN,
        ),
        prompt_encoder_config=tf.SamPromptEncoderConfig(
            hidden_size=HIDDEN, image_size=IMAGE_SIZE, patch_size=16, mask_input_channels=4
        ),
        mask_decoder_config=tf.SamMaskDecoderConfig(
            hidden_size=HIDDEN, mlp_dim=2 * HIDDEN, num_attention_heads=4, iou_head_hidden_dim=HIDDEN
        ),
    )
    with seeded(seed):
        model = tf.SamModel(config).eval()
    model.save_pretrained(dest)
    processor = tf.SamProcessor(
        image_processor=tf.SamImageProcessor(
            size={"longest_edge": IMAGE_SIZE},
            pad_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
            mask_size={"longest_edge": IMAGE_SIZE // 4},
            mask_pad_size={"height": IMAGE_SIZE // 4, "width": IMAGE_SIZE // 4},
        )
    )
    processor.save_pretrained(dest)
    return dest

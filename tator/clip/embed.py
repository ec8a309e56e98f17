"""Crop images and turn them into L2-normalised embeddings with a loaded CLIP or DINOv3 backbone.

Crops are `padded_square`: a square around the box (pixels, xyxy), grown by `padding` of its side on each
side, filled with black outside the image, resized to the backbone's input size. CLIP embeddings are the
projected image features; DINOv3 embeddings are the pooled CLS token. torch is imported inside calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from tator.annotations import BBox
from tator.clip.loader import ClipHandle, Dinov3Handle
from tator.runtime.timing import timed

log = logging.getLogger(__name__)

DEFAULT_PADDING = 0.08
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Encoder = ClipHandle | Dinov3Handle


@dataclass(frozen=True)
class EncoderInfo:
    """What a crop must look like for this backbone, and how long its embeddings are."""

    encoder_type: str
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dim: int


def encoder_info(handle: Encoder) -> EncoderInfo:
    """Input size, normalisation and embedding length, read from the model config and its processor."""
    config: Any = handle.model.config
    if isinstance(handle, ClipHandle):
        processor = getattr(handle.processor, "image_processor", handle.processor)
        size, dim, kind = int(config.vision_config.image_size), int(config.projection_dim), "clip"
        default_mean, default_std = CLIP_MEAN, CLIP_STD
    else:
        processor = handle.processor
        size, dim, kind = int(config.image_size), int(config.hidden_size), "dinov3"
        default_mean, default_std = IMAGENET_MEAN, IMAGENET_STD
    mean = tuple(float(v) for v in getattr(processor, "image_mean", None) or default_mean)
    std = tuple(float(v) for v in getattr(processor, "image_std", None) or default_std)
    return EncoderInfo(kind, size, (mean[0], mean[1], mean[2]), (std[0], std[1], std[2]), dim)


def square_box(box: BBox, *, padding: float) -> tuple[int, int, int, int]:
    """The padded square crop window (integer pixels, may extend past the image) around `box`."""
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    side = max(box.width, box.height, 1.0) * (1.0 + 2.0 * max(padding, 0.0))
    half = side / 2
    left, top = int(round(cx - half)), int(round(cy - half))
    size = max(1, int(round(side)))
    return left, top, left + size, top + size


def crop_square(image: Image.Image, box: BBox, *, size: int, padding: float = DEFAULT_PADDING) -> Image.Image:
    """The `padded_square` crop of `box` resized to `size` x `size` (RGB)."""
    window = image.crop(square_box(box, padding=padding))  # PIL fills outside the image with black
    return window.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)


def to_batch(crops: Sequence[Image.Image], info: EncoderInfo) -> np.ndarray:
    """`[N, 3, S, S]` float32, normalised; crops must already be `info.image_size` square."""
    pixels = np.stack([np.asarray(crop, dtype=np.float32) for crop in crops]) / np.float32(255.0)
    mean, std = np.asarray(info.mean, dtype=np.float32), np.asarray(info.std, dtype=np.float32)
    return np.ascontiguousarray(((pixels - mean) / std).transpose(0, 3, 1, 2), dtype=np.float32)


def embed_batch(handle: Encoder, crops: Sequence[Image.Image], info: EncoderInfo) -> np.ndarray:
    """L2-normalised embeddings `[N, dim]` (float32) of prepared crops; one forward pass."""
    import torch

    if not crops:
        return np.zeros((0, info.dim), dtype=np.float32)
    model: Any = handle.model
    dtype = next(model.parameters()).dtype
    pixels = torch.from_numpy(to_batch(crops, info)).to(device=handle.device, dtype=dtype)
    with torch.inference_mode(), timed("infer"):
        if isinstance(handle, ClipHandle):
            output = model.get_image_features(pixel_values=pixels)
            features = output if isinstance(output, torch.Tensor) else output.pooler_output
        else:
            features = model(pixel_values=pixels).pooler_output
        features = torch.nn.functional.normalize(features.float(), dim=-1)
    return np.ascontiguousarray(features.cpu().numpy(), dtype=np.float32)


def embed_boxes(
    handle: Encoder,
    image: Image.Image,
    boxes: Sequence[BBox],
    *,
    padding: float = DEFAULT_PADDING,
    batch_size: int = 64,
) -> np.ndarray:
    """Embeddings of the padded-square crops of `boxes` in one image, in batches."""
    info = encoder_info(handle)
    out = [np.zeros((0, info.dim), dtype=np.float32)]
    for start in range(0, len(boxes), max(1, batch_size)):
        crops = [
            crop_square(image, box, size=info.image_size, padding=padding) for box in boxes[start : start + batch_size]
        ]
        out.append(embed_batch(handle, crops, info))
    return np.concatenate(out)

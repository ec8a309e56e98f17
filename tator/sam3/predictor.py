"""Interactive segmentation on cached image embeddings: classic SAM (`sam1`) and the SAM3 tracker (`sam3`).

`embed_image` runs the image encoder once; `predict_mask` decodes one prompt against that embedding, which is
what makes the second click on an image cheap. Masks come back at the image's full size (H x W, bool).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from tator.runtime.timing import timed
from tator.sam3.loader import Sam3TrackerHandle, SamHandle
from tator.sam3.prompts import Prompt
from tator.vision.masks import BoolMask

InteractiveHandle = SamHandle | Sam3TrackerHandle


@dataclass(frozen=True)
class ImageEmbedding:
    """Image-encoder output of one image for one model, reused by every prompt on that image."""

    width: int
    height: int
    features: Any  # sam1: Tensor (1, C, h, w); tracker: list of FPN Tensors; on the model's device
    model_size: tuple[int, int] | None  # sam1: the resized (h, w) before padding; tracker: None
    nbytes: int


@dataclass(frozen=True)
class MaskPrediction:
    mask: BoolMask  # H x W of the full image
    score: float  # the model's predicted IoU of the chosen mask


def tensor_bytes(value: Any) -> int:
    """Bytes held by a tensor or a (nested) list/tuple of tensors."""
    if isinstance(value, list | tuple):
        return sum(tensor_bytes(v) for v in value)
    return int(value.numel() * value.element_size()) if hasattr(value, "numel") else 0


def embed_image(handle: InteractiveHandle, pixels: np.ndarray) -> ImageEmbedding:
    """Run the image encoder on RGB `pixels` (H x W x 3, uint8)."""
    import torch

    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    encoded = handle.processor(images=Image.fromarray(pixels, mode="RGB"), return_tensors="pt")
    pixel_values = encoded["pixel_values"].to(handle.device)
    with torch.inference_mode(), timed("encode"):
        features = handle.model.get_image_embeddings(pixel_values)
    model_size = None
    if isinstance(handle, SamHandle):
        reshaped = encoded["reshaped_input_sizes"][0]
        model_size = (int(reshaped[0]), int(reshaped[1]))
    return ImageEmbedding(width, height, features, model_size, tensor_bytes(features))


def _model_inputs(handle: InteractiveHandle, embedding: ImageEmbedding, prompt: Prompt) -> dict[str, Any]:
    """Prompt tensors in the model's input space: (1 image, 1 object, N points) and (1 image, 1 box)."""
    import torch

    if isinstance(handle, Sam3TrackerHandle):
        # The processor scales pixels to its input size; nesting is (image, object, point, xy).
        encoded = handle.processor(
            original_sizes=[[embedding.height, embedding.width]],
            input_points=[[[list(p) for p in prompt.points]]] if prompt.points else None,
            input_labels=[[list(prompt.labels)]] if prompt.points else None,
            input_boxes=[[list(prompt.box)]] if prompt.box is not None else None,
            return_tensors="pt",
        )
        return {k: v.to(handle.device) for k, v in encoded.items() if k != "original_sizes"}
    # Classic SAM resizes the longest side and pads; points scale by the resized size (as SamProcessor does).
    assert embedding.model_size is not None
    sy, sx = embedding.model_size[0] / embedding.height, embedding.model_size[1] / embedding.width
    inputs: dict[str, Any] = {}
    if prompt.points:
        inputs["input_points"] = torch.tensor([[[[x * sx, y * sy] for x, y in prompt.points]]], dtype=torch.float32)
        inputs["input_labels"] = torch.tensor([[list(prompt.labels)]], dtype=torch.int64)
    if prompt.box is not None:
        x1, y1, x2, y2 = prompt.box
        inputs["input_boxes"] = torch.tensor([[[x1 * sx, y1 * sy, x2 * sx, y2 * sy]]], dtype=torch.float32)
    return {k: v.to(handle.device) for k, v in inputs.items()}


def predict_mask(
    handle: InteractiveHandle, embedding: ImageEmbedding, prompt: Prompt, *, mask_threshold: float = 0.0
) -> MaskPrediction:
    """The best mask for `prompt` at the image's full size, from a cached embedding; a pixel is in the mask
    when its logit exceeds `mask_threshold` (0.0 = probability 0.5)."""
    import torch

    inputs = _model_inputs(handle, embedding, prompt)
    with torch.inference_mode(), timed("decode"):
        out = handle.model(image_embeddings=embedding.features, multimask_output=prompt.ambiguous, **inputs)
    scores = out.iou_scores[0, 0]
    best = int(torch.argmax(scores))
    low_res = out.pred_masks[:, :, best : best + 1].float().cpu()  # upsample only the chosen mask
    size = [[embedding.height, embedding.width]]
    if isinstance(handle, SamHandle):
        assert embedding.model_size is not None
        masks = handle.processor.post_process_masks(
            low_res, size, [list(embedding.model_size)], mask_threshold=mask_threshold
        )
    else:
        masks = handle.processor.post_process_masks(low_res, size, mask_threshold=mask_threshold)
    mask = np.asarray(masks[0][0, 0].numpy(), dtype=bool)
    return MaskPrediction(mask=mask, score=float(scores[best]))

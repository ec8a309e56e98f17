"""The one home of box geometry: conversions between the contract's conventions, IoU and NMS.

Internal convention (see tator.annotations): absolute pixels, xyxy. IoU and NMS run on torchvision ops;
torch is imported inside the functions that need it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


def xyxy_to_xywh(boxes: FloatArray) -> FloatArray:
    """[x1, y1, x2, y2] -> [x, y, w, h] (top-left + size), both in pixels."""
    out = np.asarray(boxes, dtype=np.float32).copy().reshape(-1, 4)
    out[:, 2:] -= out[:, :2]
    return out


def xywh_to_xyxy(boxes: FloatArray) -> FloatArray:
    """[x, y, w, h] -> [x1, y1, x2, y2], both in pixels."""
    out = np.asarray(boxes, dtype=np.float32).copy().reshape(-1, 4)
    out[:, 2:] += out[:, :2]
    return out


def xyxy_to_yolo(boxes: FloatArray, width: int, height: int) -> FloatArray:
    """Pixel xyxy -> YOLO-normalised [cx, cy, w, h] in 0..1."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out = np.stack(
        [
            (b[:, 0] + b[:, 2]) / 2 / width,
            (b[:, 1] + b[:, 3]) / 2 / height,
            (b[:, 2] - b[:, 0]) / width,
            (b[:, 3] - b[:, 1]) / height,
        ],
        axis=1,
    )
    return out.astype(np.float32)


def yolo_to_xyxy(boxes: FloatArray, width: int, height: int) -> FloatArray:
    """YOLO-normalised [cx, cy, w, h] -> pixel xyxy."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    half_w, half_h = b[:, 2] * width / 2, b[:, 3] * height / 2
    cx, cy = b[:, 0] * width, b[:, 1] * height
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1).astype(np.float32)


def clip_xyxy(boxes: FloatArray, width: int, height: int) -> FloatArray:
    """Clip pixel xyxy boxes to the image."""
    out = np.asarray(boxes, dtype=np.float32).copy().reshape(-1, 4)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU matrix (len(a) x len(b)) of pixel xyxy boxes."""
    import torch
    from torchvision.ops import box_iou as tv_box_iou

    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    result: Any = tv_box_iou(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b, dtype=torch.float32))
    return np.asarray(result.numpy(), dtype=np.float32)


def classwise_nms(
    boxes: FloatArray, scores: FloatArray, classes: npt.NDArray[np.int64], iou: float
) -> npt.NDArray[np.int64]:
    """Indices kept by per-class NMS, highest score first (torchvision batched_nms)."""
    import torch
    from torchvision.ops import batched_nms

    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    keep: Any = batched_nms(
        torch.as_tensor(boxes, dtype=torch.float32),
        torch.as_tensor(scores, dtype=torch.float32),
        torch.as_tensor(classes, dtype=torch.int64),
        float(iou),
    )
    return np.asarray(keep.numpy(), dtype=np.int64)

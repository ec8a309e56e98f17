"""The one home of box geometry: conversions between the contract's conventions, IoU and NMS.

Internal convention (see tator.annotations): absolute pixels, xyxy. IoU and NMS run on torchvision ops;
torch is imported inside the functions that need it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


BoxArray = npt.NDArray[np.floating[Any]]
BoxLike = npt.ArrayLike


def _boxes(boxes: BoxLike) -> BoxArray:
    """An N x 4 copy: float32 arrays (detector outputs) stay float32, anything else (annotation files'
    coordinates, python floats) is computed in float64 so a read-write round trip keeps every digit."""
    array = np.asarray(boxes)
    if array.dtype == np.float32:
        return array.astype(np.float32, copy=True).reshape(-1, 4)
    return array.astype(np.float64).reshape(-1, 4)


def xyxy_to_xywh(boxes: BoxLike) -> BoxArray:
    """[x1, y1, x2, y2] -> [x, y, w, h] (top-left + size), both in pixels."""
    out = _boxes(boxes)
    out[:, 2:] -= out[:, :2]
    return out


def xywh_to_xyxy(boxes: BoxLike) -> BoxArray:
    """[x, y, w, h] -> [x1, y1, x2, y2], both in pixels."""
    out = _boxes(boxes)
    out[:, 2:] += out[:, :2]
    return out


def xyxy_to_yolo(boxes: BoxLike, width: int, height: int) -> BoxArray:
    """Pixel xyxy -> YOLO-normalised [cx, cy, w, h] in 0..1."""
    b = _boxes(boxes)
    return np.stack(
        [
            (b[:, 0] + b[:, 2]) / 2 / width,
            (b[:, 1] + b[:, 3]) / 2 / height,
            (b[:, 2] - b[:, 0]) / width,
            (b[:, 3] - b[:, 1]) / height,
        ],
        axis=1,
    )


def yolo_to_xyxy(boxes: BoxLike, width: int, height: int) -> BoxArray:
    """YOLO-normalised [cx, cy, w, h] -> pixel xyxy."""
    b = _boxes(boxes)
    cx, cy, half_w, half_h = b[:, 0], b[:, 1], b[:, 2] / 2, b[:, 3] / 2
    return np.stack(
        [(cx - half_w) * width, (cy - half_h) * height, (cx + half_w) * width, (cy + half_h) * height], axis=1
    )


def clip_xyxy(boxes: BoxLike, width: int, height: int) -> BoxArray:
    """Clip pixel xyxy boxes to the image."""
    out = _boxes(boxes)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


def box_iou(a: BoxLike, b: BoxLike) -> FloatArray:
    """Pairwise IoU matrix (len(a) x len(b)) of pixel xyxy boxes: the one IoU of the code base (no +1 on sizes;
    0 where the union is empty). Plain numpy, so small per-image matrices never import torch; memory is
    len(a) x len(b) x 2 floats, so callers with thousands of boxes pass them in row blocks."""
    x = np.asarray(a, dtype=np.float32).reshape(-1, 4)
    y = np.asarray(b, dtype=np.float32).reshape(-1, 4)
    if len(x) == 0 or len(y) == 0:
        return np.zeros((len(x), len(y)), dtype=np.float32)
    wh = np.clip(np.minimum(x[:, None, 2:], y[None, :, 2:]) - np.maximum(x[:, None, :2], y[None, :, :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area_x = (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])
    area_y = (y[:, 2] - y[:, 0]) * (y[:, 3] - y[:, 1])
    union = area_x[:, None] + area_y[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0).astype(np.float32)


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

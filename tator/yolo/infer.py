"""YOLO inference: a batched detector over ultralytics for the predict modes of tator.vision.detection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tator.runtime.timing import timed
from tator.vision.detection import BatchDetector, Detections, Pixels
from tator.yolo.loader import YoloHandle


@dataclass(frozen=True)
class YoloOptions:
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    imgsz: int | None = None  # None: the size the model was trained at


def model_imgsz(handle: YoloHandle) -> int:
    """The input size the model was trained at (ultralytics keeps it in the checkpoint's overrides)."""
    overrides: dict[str, Any] = dict(getattr(handle.model, "overrides", {}) or {})
    value = overrides.get("imgsz", 640)
    return int(value[0] if isinstance(value, list | tuple) else value)


def windowed_batch_size(device: str) -> int:
    """Windows per forward pass. Measured on a 2-core CPU (tools/bench/windowed.py): batches of 1-2
    run fastest and 8 is 1.8x slower (cache pressure), while a GPU gains from larger batches."""
    return 8 if device.startswith("cuda") else 2


def batch_detector(handle: YoloHandle, options: YoloOptions) -> BatchDetector:
    """A callable detecting on a list of RGB images in one batched ultralytics call per list.

    The caller must hold the model's registry lease: ultralytics predictors keep per-call state."""
    imgsz = options.imgsz or model_imgsz(handle)

    def detect(images: list[Pixels]) -> list[Detections]:
        if not images:
            return []
        frames = images if handle.reads_rgb else [to_bgr(image) for image in images]
        with timed("infer"):
            results = handle.model.predict(
                frames,
                imgsz=imgsz,
                conf=options.conf,
                iou=options.iou,
                max_det=options.max_det,
                device=handle.device,
                verbose=False,
                batch=len(frames),
            )
        return [_to_detections(result) for result in results]

    return detect


def to_bgr(image: Pixels) -> Pixels:
    """ultralytics reads numpy arrays as BGR (OpenCV order); ours are RGB. Needed only for a network that
    does not read RGB as given (`YoloHandle.reads_rgb`, the usual case avoids the copy). OpenCV's SIMD swap takes about
    0.5 ms on a 1280x960 image where numpy's strided `ascontiguousarray(image[:, :, ::-1])` took 8-40 ms:
    that copy was most of the server's fixed cost per predict (tools/bench/predict_overhead.py)."""
    import cv2  # ultralytics' own dependency; imported here so start-up stays free of it

    if image.ndim != 3 or image.shape[2] != 3 or not image.flags.c_contiguous:
        return np.ascontiguousarray(image[:, :, ::-1])
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), dtype=np.uint8)


def _to_detections(result: Any) -> Detections:
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections.empty()
    return Detections(
        boxes.xyxy.cpu().numpy().astype(np.float32),
        boxes.conf.cpu().numpy().astype(np.float32),
        boxes.cls.cpu().numpy().astype(np.int64),
    )

"""`/predict_base64`: classify one crop (or a whole image) with the active head.

Answer fields follow the reference: `prediction`, `proba`, `second_label`, `second_proba`, `margin`,
`error`. With `background_guard` a background (`__bg_*`) winner is reported as `background` (with the best
object class as runner-up); without it, background classes are ignored and the best object class wins.
Boxes are pixels xyxy in the image as sent (or in `image_width` x `image_height` when those are given).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from tator.annotations import BBox
from tator.clip.active import ClipPlaces, load_active
from tator.clip.embed import DEFAULT_PADDING, embed_boxes
from tator.clip.head import is_background
from tator.errors import BboxInvalid, ClassifierLoadFailed, TatorError
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections

log = logging.getLogger(__name__)

BACKGROUND_LABEL = "background"
UNAVAILABLE = "clip_unavailable"


def crop_box(
    bbox: Sequence[float] | None, width: int, height: int, *, space: tuple[int | None, int | None] = (None, None)
) -> tuple[BBox, bool]:
    """The box to classify in image pixels (the whole image when none), and whether one was sent."""
    if bbox is None:
        return BBox(0.0, 0.0, float(width), float(height)), False
    if len(bbox) != 4 or not all(math.isfinite(v) for v in bbox):
        raise BboxInvalid("bbox_xyxy must be four finite numbers [x1, y1, x2, y2] in pixels")
    if bbox[2] < bbox[0] or bbox[3] < bbox[1]:
        raise BboxInvalid(
            "bbox_xyxy is [x1, y1, x2, y2] (top-left, then bottom-right corner, pixels) with x2 >= x1 and "
            f"y2 >= y1; got {[round(float(v), 2) for v in bbox]}. For [x, y, w, h] send [x, y, x + w, y + h]",
            bbox=[str(v) for v in bbox],
        )
    sx = width / space[0] if space[0] else 1.0
    sy = height / space[1] if space[1] else 1.0
    x1, y1, x2, y2 = (bbox[0] * sx, bbox[1] * sy, bbox[2] * sx, bbox[3] * sy)
    box = BBox(max(0.0, min(x1, x2)), max(0.0, min(y1, y2)), min(float(width), max(x1, x2)),
               min(float(height), max(y1, y2)))  # fmt: skip
    if box.width < 1 or box.height < 1:
        raise BboxInvalid("bbox_xyxy is empty once clipped to the image", bbox=[str(v) for v in bbox])
    return box, True


def rank(names: Sequence[str], proba: np.ndarray, *, background_guard: bool) -> dict[str, Any]:
    """Winner, runner-up and margin from one row of probabilities."""
    order = [int(i) for i in np.argsort(-proba)]
    objects = [i for i in order if not is_background(names[i])]
    top = order[0]
    if background_guard and is_background(names[top]):
        second = objects[0] if objects else None
        prediction, probability, background = BACKGROUND_LABEL, float(proba[top]), True
    else:
        if not objects:
            raise ClassifierLoadFailed("the head has no object class")
        top, second = objects[0], (objects[1] if len(objects) > 1 else None)
        prediction, probability, background = names[top], float(proba[top]), False
    second_proba = float(proba[second]) if second is not None else 0.0
    return {
        "prediction": prediction, "proba": probability, "second_label": names[second] if second is not None else None,
        "second_proba": second_proba, "margin": probability - second_proba, "background": background,
        "background_label": names[top] if background else None, "error": None,
    }  # fmt: skip


def predict_active(
    selections: ModelSelections,
    registry: ModelRegistry,
    places: ClipPlaces,
    pixels: np.ndarray,
    *,
    bbox: Sequence[float] | None = None,
    space: tuple[int | None, int | None] = (None, None),
    background_guard: bool = True,
) -> dict[str, Any]:
    """Classify with the active head; with none (or a broken one) answer `error: clip_unavailable`."""
    height, width = int(pixels.shape[0]), int(pixels.shape[1])
    box, cropped = crop_box(bbox, width, height, space=space)
    try:
        active = load_active(selections, places)
    except TatorError as exc:
        log.warning("classifier.unavailable code=%s message=%s", exc.code, exc.message)
        return unavailable(f"{exc.code}: {exc.message}")
    if active is None:
        return unavailable("no active classifier: choose one with POST /clip/active_model")
    padding = float(active.head.meta.get("crop_padding", DEFAULT_PADDING)) if cropped else 0.0
    with registry.use(active.selection.spec, exclusive=False) as handle:
        embedding = embed_boxes(handle, Image.fromarray(pixels, mode="RGB"), [box], padding=padding)
    adjust = bool(active.selection.meta.get("logit_adjustment_inference"))
    proba = active.head.predict_proba(embedding, logit_adjustment=adjust)[0]
    return rank(active.names, proba, background_guard=background_guard)


def unavailable(message: str) -> dict[str, Any]:
    return {
        "prediction": "unknown", "proba": None, "second_label": None, "second_proba": None, "margin": None,
        "background": False, "background_label": None, "error": UNAVAILABLE, "message": message,
    }  # fmt: skip

"""The `_auto` composition: segment with SAM, then classify the mask's tight box with the active head.

SAM and the classifier heads are separate model domains, so they meet here. Failures that the contract
calls soft (no classifier, empty mask, a classifier error) are answered with HTTP 200 and `error` set.
"""

from __future__ import annotations

import logging
from typing import Any

from tator.clip.active import ClipPlaces
from tator.clip.predict import UNAVAILABLE, predict_active
from tator.errors import TatorError
from tator.runtime.images import DecodedImage
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.sam3.predictor import MaskPrediction
from tator.sam3.results import shape_mask

log = logging.getLogger(__name__)

EMPTY_MASK = "empty_mask"
CLASSIFIER_ERROR = "classifier_error"
_NO_CLASS: dict[str, Any] = {
    "prediction": "unknown", "proba": None, "second_label": None, "second_proba": None, "margin": None,
}  # fmt: skip


def classify_prediction(
    selections: ModelSelections,
    registry: ModelRegistry,
    places: ClipPlaces,
    image: DecodedImage,
    prediction: MaskPrediction,
    *,
    uuid: str | None,
    simplify_epsilon: float | None,
) -> dict[str, Any]:
    """A `SamAutoResponse` body: mask, YOLO box and the active head's verdict on the mask's box."""
    shaped = shape_mask(prediction.mask)
    base = {"uuid": uuid, "image_token": image.token, "score": prediction.score, "mask": shaped.mask,
            "simplify_epsilon": simplify_epsilon}  # fmt: skip
    if shaped.box is None:
        return {**base, **_NO_CLASS, "bbox": [], "error": EMPTY_MASK}
    try:
        verdict = predict_active(selections, registry, places, image.pixels, bbox=list(shaped.box))
    except TatorError as exc:
        log.warning("sam.auto_classifier_failed code=%s message=%s", exc.code, exc.message)
        return {**base, **_NO_CLASS, "bbox": shaped.bbox_yolo, "error": f"{CLASSIFIER_ERROR}:{exc.code}"}
    fields = {k: verdict[k] for k in _NO_CLASS}
    bbox = [] if verdict["error"] == UNAVAILABLE else shaped.bbox_yolo
    return {**base, **fields, "bbox": bbox, "error": verdict["error"]}


def classify_detections(
    selections: ModelSelections,
    registry: ModelRegistry,
    places: ClipPlaces,
    image: DecodedImage,
    found: list[tuple[MaskPrediction, float]],
    *,
    simplify_epsilon: float | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Classify each (mask, score) like `classify_prediction`; without a classifier the answer is no
    detections and the warning `clip_unavailable`, as the contract says."""
    answers: list[dict[str, Any]] = []
    for prediction, _score in found:
        answer = classify_prediction(
            selections, registry, places, image, prediction, uuid=None, simplify_epsilon=simplify_epsilon
        )
        if answer["error"] == UNAVAILABLE:
            return [], [UNAVAILABLE]
        answers.append(answer)
    return answers, ([] if answers else ["no_results"])

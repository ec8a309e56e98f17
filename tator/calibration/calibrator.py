"""A trained calibrator on disk: `calibrator.json` (feature spec, classes, per-class thresholds, model metadata)
plus the model file (`model.json` for XGBoost, `mlp.safetensors` for the MLP). Safe formats only: loading never
runs code from the files. The folder is written under a temporary name and renamed, so a crash leaves no
half-written calibrator.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tator.calibration.features import FEATURE_VERSION, FeatureSpec, build_matrix
from tator.calibration.models import ModelKind, TrainedModel, load_model
from tator.calibration.samples import ImageSample
from tator.storage.files import atomic_write_json, remove_tree

META_FILE = "calibrator.json"
FORMAT = "tator.calibrator"


@dataclass
class Calibrator:
    """Scores candidates (probability of being a true positive) and keeps those at or above their class's
    threshold."""

    spec: FeatureSpec
    model: TrainedModel
    thresholds: dict[int, float]
    info: dict[str, Any]

    def scores(self, samples: Sequence[ImageSample]) -> list[np.ndarray[Any, np.dtype[np.float64]]]:
        """Per sample, the calibrated score of each of its candidates (in candidate order)."""
        features, owners = build_matrix(self.spec, samples)
        probs = self.model.predict(features)
        return [probs[owners == n] for n in range(len(samples))]

    def threshold(self, class_id: int) -> float:
        return self.thresholds.get(class_id, float(self.info.get("global_threshold", 0.5)))

    def save(self, folder: Path) -> None:
        """Write the calibrator into `folder` (replaced whole if it exists)."""
        staging = folder.with_name(f".{folder.name}.tmp")
        remove_tree(staging)
        staging.mkdir(parents=True)
        files = self.model.save(staging)
        meta = {
            "format": FORMAT, "feature_version": FEATURE_VERSION, "model": self.model.kind, "files": files,
            "spec": self.spec.as_dict(), "feature_names": self.spec.names,
            "thresholds": {self.spec.classes[c]: t for c, t in sorted(self.thresholds.items())},
            "model_meta": self.model.meta, **self.info,
        }  # fmt: skip
        atomic_write_json(staging / META_FILE, meta)
        if folder.exists():
            remove_tree(folder)
        os.replace(staging, folder)


def load_calibrator(folder: Path) -> Calibrator:
    """Read a calibrator folder; ValueError when it is not one this version can use."""
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{folder.name} holds no readable {META_FILE}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("feature_version") != FEATURE_VERSION:
        raise ValueError(f"{folder.name} is not a calibrator of feature version {FEATURE_VERSION}")
    spec = FeatureSpec(tuple(meta["spec"]["sources"]), tuple(meta["spec"]["classes"]))
    if spec.names != meta.get("feature_names"):
        raise ValueError(f"{folder.name}: the stored feature names do not match the feature spec")
    kind: ModelKind = "mlp" if meta.get("model") == "mlp" else "xgb"
    model = load_model(folder, kind, dict(meta.get("model_meta") or {}))
    index = {name: n for n, name in enumerate(spec.classes)}
    thresholds = {index[name]: float(v) for name, v in dict(meta.get("thresholds") or {}).items() if name in index}
    info = {k: v for k, v in meta.items() if k in ("global_threshold", "eval_iou", "label_iou", "recall_floor")}
    return Calibrator(spec, model, thresholds, info)


def info_block(global_threshold: float, options: Mapping[str, Any]) -> dict[str, Any]:
    """The calibrator's scalar settings stored beside the thresholds."""
    return {"global_threshold": global_threshold, **{k: options[k] for k in ("eval_iou", "label_iou", "recall_floor")}}

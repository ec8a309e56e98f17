"""The prepass configuration: which sources run and with which knobs. Plain data, hashed canonically so a
dataset prepass can cache per (image content, config)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tator.prepass.dedupe import DedupeConfig


class PrepassConfig(BaseModel):
    """Every knob of one prepass run (field names follow the contract's request where it names them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enable_yolo: bool = Field(default=True, description="Run the active YOLO detector.")
    enable_rfdetr: bool = Field(default=True, description="Run the active RF-DETR detector.")
    detector_conf: float = Field(default=0.25, ge=0.0, le=1.0, description="Detector score threshold (0..1).")
    detector_max_det: int = Field(default=300, ge=1, le=5000, description="Most boxes per detector call.")
    detector_windowed: bool = Field(default=True, description="Also run detectors on overlapping tiles (SAHI).")
    sahi_window_size: int = Field(default=640, ge=64, le=8192, description="Detector tile side in pixels.")
    sahi_overlap_ratio: float = Field(default=0.2, ge=0.0, lt=0.95, description="Detector tile overlap (0..0.95).")
    sahi_merge_iou: float = Field(default=0.5, ge=0.0, le=1.0, description="Class-wise NMS IoU across tiles.")
    enable_sam3_text: bool = Field(default=True, description="Prompt SAM3 with each class's terms.")
    sam3_text_synonym_budget: int = Field(default=10, ge=0, le=50, description="Most glossary terms per class.")
    prepass_sam3_text_thr: float = Field(default=0.2, ge=0.0, le=1.0, description="SAM3 text score threshold.")
    sam3_mask_threshold: float = Field(default=0.2, ge=0.0, le=1.0, description="SAM3 mask probability threshold.")
    sam3_text_window_extension: bool = Field(default=True, description="Also prompt SAM3 on a grid of windows.")
    grid_cols: int = Field(default=2, ge=1, le=8, description="Grid columns for SAM3 windows.")
    grid_rows: int = Field(default=2, ge=1, le=8, description="Grid rows for SAM3 windows.")
    grid_overlap_ratio: float = Field(default=0.2, ge=0.0, le=0.9, description="Each grid cell grows by this share.")
    sam3_max_results: int = Field(default=50, ge=1, le=500, description="Most SAM3 boxes per prompt and context.")
    enable_sam3_similarity: bool = Field(default=True, description="Prompt SAM3 with exemplar boxes per class.")
    similarity_exemplar_count: int = Field(default=3, ge=1, le=16, description="Exemplars per class (top scores).")
    similarity_min_exemplar_score: float = Field(default=0.6, ge=0.0, le=1.0, description="Least exemplar score.")
    prepass_similarity_score: float = Field(default=0.3, ge=0.0, le=1.0, description="SAM3 similarity threshold.")
    similarity_window_extension: bool = Field(default=True, description="Also run similarity on the grid.")
    dedupe_iou: float = Field(default=0.75, ge=0.0, le=1.0, description="Same-class merge IoU.")
    cross_class_dedupe_enabled: bool = Field(default=False, description="Also merge boxes of different classes.")
    cross_class_dedupe_iou: float = Field(default=0.8, ge=0.0, le=1.0, description="Cross-class merge IoU.")
    fusion_mode: Literal["primary", "wbf"] = Field(default="primary", description="Merged box: top or weighted.")
    scoreless_iou: float = Field(default=0.0, ge=0.0, le=1.0, description="Scoreless filter IoU (0: off).")
    classifier_min_prob: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Drop boxes whose classifier probability is below this; None: keep."
    )

    def dedupe(self) -> DedupeConfig:
        return DedupeConfig(
            iou=self.dedupe_iou,
            cross_class_iou=self.cross_class_dedupe_iou if self.cross_class_dedupe_enabled else None,
            fusion=self.fusion_mode,
            scoreless_iou=self.scoreless_iou,
        )

    @property
    def sources(self) -> tuple[str, ...]:
        flags = (
            ("yolo", self.enable_yolo),
            ("rfdetr", self.enable_rfdetr),
            ("sam3_text", self.enable_sam3_text),
            ("sam3_similarity", self.enable_sam3_similarity),
        )
        return tuple(name for name, on in flags if on)


def canonical_hash(*parts: Any) -> str:
    """sha256 of the parts as canonical JSON (sorted keys, no spaces): the same config, the same key."""
    plain = [p.model_dump(mode="json") if isinstance(p, BaseModel) else p for p in parts]
    text = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()

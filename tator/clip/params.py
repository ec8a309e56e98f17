"""What `/clip/train` accepts (the reference's form field names) and the plan a training job runs from."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KIND = "clip.train"


class ClipTrainRequest(BaseModel):
    """Form (or JSON) fields of `/clip/train`. The reference's UI sends ~80 fields; those not modelled here
    are ignored, and empty strings mean "default". Booleans may arrive as "true"/"false"."""

    model_config = ConfigDict(extra="ignore")

    dataset_id: str | None = None
    images_path_native: str | None = None
    labels_path_native: str | None = None
    labelmap_path_native: str | None = None
    encoder_type: str = "clip"
    clip_model_name: str = ""
    encoder_model: str = ""
    model_filename: str = ""
    labelmap_filename: str = ""
    classifier_type: Literal["logreg", "mlp"] = "logreg"
    test_size: float = Field(default=0.2, ge=0.0, le=0.9)
    random_seed: int = 42
    batch_size: int = Field(default=64, ge=1, le=4096)
    min_per_class: int = Field(default=2, ge=1)
    class_weight: Literal["balanced", "none", "effective"] = "balanced"
    # logistic regression
    C: float = Field(default=1.0, gt=0.0)
    solver: Literal["lbfgs", "saga", "sag", "liblinear", "newton-cg"] = "lbfgs"
    max_iter: int = Field(default=1000, ge=1, le=100_000)
    # MLP
    mlp_hidden_sizes: str = "256"
    mlp_activation: Literal["relu", "gelu"] = "relu"
    mlp_epochs: int = Field(default=50, ge=1, le=10_000)
    mlp_lr: float = Field(default=1e-3, gt=0.0)
    mlp_weight_decay: float = Field(default=1e-4, ge=0.0)
    mlp_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    mlp_label_smoothing: float = Field(default=0.05, ge=0.0, lt=1.0)
    mlp_batch_size: int = Field(default=128, ge=1, le=65_536)
    mlp_patience: int = Field(default=6, ge=0)
    # crops and background
    crop_padding: float = Field(default=0.08, ge=0.0, le=1.0)
    bg_class_count: int = Field(default=2, ge=0, le=16)
    bg_per_image: int = Field(default=2, ge=0, le=64)
    max_bg_share: float = Field(default=0.4, ge=0.0, le=0.9)
    reuse_embeddings: bool = True
    logit_adjustment_inference: bool = False

    @model_validator(mode="before")
    @classmethod
    def _blank_means_default(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    def hidden_sizes(self) -> list[int]:
        """`mlp_hidden_sizes` ("256" or "512,128") as layer widths; bad entries are a 422 at parse time."""
        return [int(part) for part in self.mlp_hidden_sizes.replace(" ", "").split(",") if part]

    @model_validator(mode="after")
    def _check_hidden(self) -> ClipTrainRequest:
        sizes = self.mlp_hidden_sizes.replace(" ", "").split(",")
        if not all(s.isdigit() and 0 < int(s) <= 8192 for s in sizes if s) or len(sizes) > 4:
            raise ValueError("mlp_hidden_sizes must be up to 4 comma-separated widths of 1-8192")
        return self


class ClipTrainPlan(BaseModel):
    """Everything a training job needs, resolved before it is queued (stored as the job's params)."""

    request: ClipTrainRequest
    dataset_id: str
    dataset_source: Literal["registry", "upload"]
    dataset_path: str  # the dataset's folder (an upload's staging folder, removed when the job ends)
    cache_dir: str  # the shared embedding cache
    classes: list[str]
    encoder_type: Literal["clip", "dinov3"]
    backbone_name: str
    backbone_source: str
    model_stem: str
    labelmap_stem: str


class ClipTrainOutput(BaseModel):
    """What the job leaves in its run dir; the completion step publishes the head and its labelmap."""

    model_config = ConfigDict(extra="allow")  # metrics, timings, cache stats ... (the job result's fields)
    head_path: str
    run_labelmap_path: str

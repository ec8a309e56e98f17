"""What `/clip/train` accepts (the reference's form field names) and the plan a training job runs from."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

KIND = "clip.train"


class ClipTrainRequest(BaseModel):
    """Form (or JSON) fields of `/clip/train`. The reference's UI sends ~80 fields; those not modelled here
    are ignored, and empty strings mean "default". Booleans may arrive as "true"/"false". Of the contract's
    named options, `device_override` is carried out and `staged_temp_dir` / `hard_example_mining` are
    refused (`training_option_unsupported`) rather than ignored."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"dataset_id": "shapes", "encoder_type": "clip", "classifier_type": "logreg"}]},
    )

    dataset_id: str | None = Field(
        default=None,
        description="Registered dataset to train on (GET /datasets), or send images, labels, labelmap files.",
    )
    images_path_native: str | None = Field(
        default=None,
        description="Legacy: a server-side images folder of a dataset (only resolved inside the dataset roots).",
    )
    labels_path_native: str | None = Field(
        default=None,
        description="Legacy: a server-side labels folder of a dataset (only resolved inside the dataset roots).",
    )
    labelmap_path_native: str | None = Field(
        default=None, description="Legacy: a server-side labelmap file (only resolved inside the labelmap roots)."
    )
    encoder_type: str = Field(default="clip", description="Backbone family: clip or dinov3.")
    clip_model_name: str = Field(default="", description="CLIP backbone name (default: the server's base CLIP model).")
    encoder_model: str = Field(
        default="", description="DINOv3 backbone name (default: the server's base DINOv3 model)."
    )
    model_filename: str = Field(
        default="", description="File name of the head to write (default: derived from the dataset and time)."
    )
    labelmap_filename: str = Field(default="", description="File name of the labelmap saved beside the head.")
    classifier_type: Literal["logreg", "mlp"] = Field(
        default="logreg", description="logreg (logistic regression) or mlp (small neural head)."
    )
    test_size: float = Field(
        default=0.2, ge=0.0, le=0.9, description="Fraction of crops held out for evaluation, 0..0.9."
    )
    random_seed: int = Field(default=42, description="Random seed for the split and the solver.")
    batch_size: int = Field(default=64, ge=1, le=4096, description="Crops per embedding batch.")
    min_per_class: int = Field(
        default=2, ge=1, description="Classes with fewer crops than this are dropped (the job log says which)."
    )
    class_weight: Literal["balanced", "none", "effective"] = Field(
        default="balanced", description="balanced, none or effective (effective number of samples)."
    )
    # logistic regression
    C: float = Field(default=1.0, gt=0.0, description="Logistic regression inverse regularisation strength (> 0).")
    solver: Literal["lbfgs", "saga", "sag", "liblinear", "newton-cg"] = Field(
        default="lbfgs", description="Logistic regression solver."
    )
    max_iter: int = Field(default=1000, ge=1, le=100_000, description="Logistic regression iteration limit.")
    # MLP
    mlp_hidden_sizes: str = Field(
        default="256",
        description='MLP hidden layer widths, comma-separated (e.g. "512,128"; at most 4 layers of 1..8192).',
    )
    mlp_activation: Literal["relu", "gelu"] = Field(default="relu", description="MLP activation: relu or gelu.")
    mlp_epochs: int = Field(default=50, ge=1, le=10_000, description="MLP training epochs.")
    mlp_lr: float = Field(default=1e-3, gt=0.0, description="MLP learning rate (> 0).")
    mlp_weight_decay: float = Field(default=1e-4, ge=0.0, description="MLP weight decay (>= 0).")
    mlp_dropout: float = Field(default=0.1, ge=0.0, lt=1.0, description="MLP dropout, 0..1 (exclusive).")
    mlp_label_smoothing: float = Field(
        default=0.05, ge=0.0, lt=1.0, description="MLP label smoothing, 0..1 (exclusive)."
    )
    mlp_batch_size: int = Field(default=128, ge=1, le=65_536, description="MLP mini-batch size.")
    mlp_patience: int = Field(default=6, ge=0, description="MLP epochs without improvement before stopping early.")
    # crops and background
    crop_padding: float = Field(
        default=0.08,
        ge=0.0,
        le=1.0,
        description="Padding added around each box before cropping, as a fraction of its size (0..1).",
    )
    bg_class_count: int = Field(
        default=2, ge=0, le=16, description="Number of background classes to add (crops away from any box), 0..16."
    )
    bg_per_image: int = Field(default=2, ge=0, le=64, description="Background crops sampled per image, 0..64.")
    max_bg_share: float = Field(
        default=0.4, ge=0.0, le=0.9, description="Largest share of background crops in the training set, 0..0.9."
    )
    reuse_embeddings: bool = Field(
        default=True, description="Reuse cached crop embeddings of an earlier run on the same data and backbone."
    )
    logit_adjustment_inference: bool = Field(
        default=False, description="Store the head so that inference subtracts the training class prior."
    )
    # placement and refused options
    device_override: str = Field(default="", description="cpu, cuda or cuda:N pins the job; empty: scheduler's choice")
    staged_temp_dir: str = Field(default="", description="refused when set: server paths are not accepted")
    hard_example_mining: bool = Field(default=False, description="refused when true: not implemented here")

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
    cache_max_bytes: int  # its byte bound (least recently used evicted; 0 caches nothing)
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

"""The mining recipe and the cascade: what a mining job produces, what `apply_image` and `apply_image_chain` run.

A mining recipe is per class: an ordered list of SAM3 text-prompt steps, each with its own seed threshold;
the seeds of every step are expanded with SAM3 visual prompts (up to `max_visual_seeds` at `expand_threshold`),
deduplicated at `seed_dedupe_iou`, and the outputs at `dedupe_iou`; an optional classifier-head filter then keeps
the detections whose head probability (and margin over the runner-up) pass. Thresholds and IoUs are in [0, 1];
sizes are pixels. A cascade is an ordered list of steps, each naming a stored recipe by id or carrying one inline,
then a per-class dedupe (always), an optional cross-class dedupe (inside a `dedupe_group` or globally) and an
optional rescoring by the head of a referenced recipe.

The field names follow the reference's schema-v2 `sam3_steps` recipe, so its exported `recipe.json` reads here.
Plain pydantic: no I/O, no fastapi; stores and routes live beside it (`recipe_store.py`, `cascade_store.py`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

RECIPE_SCHEMA_VERSION: Literal[2] = 2
RECIPE_MODE: Literal["sam3_steps"] = "sam3_steps"
MAX_STEPS = 64
MAX_PROMPT_CHARS = 256
MAX_CASCADE_STEPS = 64


class MiningStep(BaseModel):
    """One SAM3 text prompt and the score a detection needs to become a seed."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS, description="SAM3 text prompt (a noun phrase)")
    seed_threshold: float = Field(
        default=0.02, ge=0.0, le=1.0, description="SAM3 score a text-prompt detection needs to be kept as a seed"
    )
    enabled: bool = Field(default=True, description="false skips the step without removing it")

    @model_validator(mode="after")
    def _prompt_not_blank(self) -> MiningStep:
        if not self.prompt.strip():
            raise ValueError("prompt must not be blank")
        return self


class MiningParams(BaseModel):
    """Visual-seed expansion, dedupe and output settings shared by every step of a recipe."""

    model_config = ConfigDict(extra="forbid")

    seed_threshold: float = Field(
        default=0.02, ge=0.0, le=1.0, description="default seed threshold for steps that do not set one"
    )
    expand_threshold: float = Field(
        default=0.15, ge=0.0, le=1.0, description="SAM3 score a visual-prompt (seed box) expansion needs"
    )
    max_visual_seeds: int = Field(
        default=25, ge=0, le=1000, description="most seeds per step expanded with visual prompts (0 = none)"
    )
    seed_dedupe_iou: float = Field(default=0.9, ge=0.0, le=1.0, description="IoU above which two seeds are one")
    dedupe_iou: float = Field(default=0.5, ge=0.0, le=1.0, description="IoU above which two outputs are one")
    mask_threshold: float = Field(default=0.5, ge=0.0, le=1.0, description="SAM3 mask probability threshold")
    min_size: int = Field(default=0, ge=0, le=100_000, description="smallest kept box side, pixels")
    simplify_epsilon: float = Field(
        default=0.0, ge=0.0, le=1000.0, description="polygon simplification tolerance, pixels (0 = none)"
    )
    max_results: int = Field(default=1000, ge=1, le=10_000, description="most detections returned per image")


class HeadFilter(BaseModel):
    """A classifier-head gate on the recipe's detections (the safe `.npz` head format of `tator.clip.head`)."""

    model_config = ConfigDict(extra="forbid")

    classifier_path: str | None = Field(
        default=None,
        max_length=1024,
        description="head file relative to the classifiers folder; a stored recipe carries its own copy instead",
    )
    min_prob: float = Field(default=0.5, ge=0.0, le=1.0, description="least head probability of the target class")
    margin: float = Field(
        default=0.0, ge=0.0, le=1.0, description="least lead of the target class over the best other class"
    )
    background_margin: float = Field(
        default=0.0, ge=0.0, le=1.0, description="least lead of the target class over the best background class"
    )
    apply: Literal["seed", "final", "both"] = Field(
        default="final", description="gate the seeds, the final detections, or both"
    )
    target_precision: float | None = Field(
        default=None, ge=0.0, le=1.0, description="precision the thresholds were tuned for, if tuned"
    )
    auto_tuned: bool = Field(default=False, description="true when min_prob/margin came from a tuning sweep")


class MiningSummary(BaseModel):
    """What the recipe scored on its mining sample (matches at the job's IoU); extra keys are kept as given."""

    model_config = ConfigDict(extra="allow")

    gts: int = Field(default=0, ge=0, description="ground-truth boxes of the class in the sample")
    matches: int = Field(default=0, ge=0, description="ground-truth boxes matched by a kept detection")
    fps: int = Field(default=0, ge=0, description="kept detections that matched no ground truth")
    precision: float = Field(default=0.0, ge=0.0, le=1.0, description="matches / (matches + fps)")
    recall: float = Field(default=0.0, ge=0.0, le=1.0, description="matches / gts")
    image_ids: list[str] = Field(default_factory=list, description="the sampled images the figures come from")


class MiningRecipe(BaseModel):
    """A per-class schema-v2 `sam3_steps` recipe."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[2] = Field(default=RECIPE_SCHEMA_VERSION, description="recipe schema version (2)")
    mode: Literal["sam3_steps"] = Field(default=RECIPE_MODE, description="recipe mode (only sam3_steps)")
    class_id: int | None = Field(default=None, ge=0, description="target class index in the dataset labelmap")
    class_name: str | None = Field(default=None, max_length=256, description="target class name")
    text_prompts: list[str] = Field(
        default_factory=list, max_length=MAX_STEPS, description="the prompt bank the steps were chosen from"
    )
    steps: list[MiningStep] = Field(
        min_length=1, max_length=MAX_STEPS, description="ordered text-prompt steps (at least one)"
    )
    params: MiningParams = Field(default_factory=MiningParams, description="expansion, dedupe and output settings")
    clip_head: HeadFilter | None = Field(default=None, description="optional classifier-head filter")
    summary: MiningSummary | None = Field(default=None, description="figures on the mining sample, if mined")
    optimizer: dict[str, Any] | None = Field(default=None, description="search trace of the mining job, as is")

    @model_validator(mode="after")
    def _some_step_enabled(self) -> MiningRecipe:
        if not any(step.enabled for step in self.steps):
            raise ValueError("a recipe needs at least one enabled step")
        return self


class CascadeStep(BaseModel):
    """One step of a cascade: a stored recipe (by id) or an inline one, with per-step overrides."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="false skips the step")
    recipe_id: str | None = Field(default=None, max_length=128, description="id of a stored recipe (ar_...)")
    recipe: MiningRecipe | None = Field(default=None, description="an inline recipe (instead of recipe_id)")
    override_class_id: int | None = Field(default=None, ge=0, description="report detections as this class index")
    override_class_name: str | None = Field(default=None, max_length=256, description="report as this class name")
    dedupe_group: str | None = Field(
        default=None, max_length=128, description="cross-class dedupe group (scope 'groups'); none = own group"
    )
    participate_cross_class_dedupe: bool = Field(default=True, description="false exempts it from cross-class dedupe")
    clip_head_min_prob_override: float | None = Field(default=None, ge=0.0, le=1.0, description="head min_prob")
    clip_head_margin_override: float | None = Field(default=None, ge=0.0, le=1.0, description="head margin")

    @model_validator(mode="after")
    def _one_source(self) -> CascadeStep:
        if (self.recipe_id is None) == (self.recipe is None):
            raise ValueError("a cascade step names exactly one of recipe_id or recipe")
        return self


class CascadeDedupe(BaseModel):
    """Dedupe and rescoring after every step ran: per class always, across classes on request."""

    model_config = ConfigDict(extra="forbid")

    per_class_iou: float = Field(default=0.5, ge=0.0, le=1.0, description="same-class boxes above it merge")
    cross_class_enabled: bool = Field(default=False, description="also dedupe across classes")
    cross_class_iou: float = Field(default=0.5, ge=0.0, le=1.0, description="cross-class boxes above it merge")
    cross_class_scope: Literal["groups", "global"] = Field(
        default="groups", description="'groups': only inside one dedupe_group; 'global': all participating steps"
    )
    confidence: Literal["sam_score", "clip_head_prob", "clip_head_margin"] = Field(
        default="sam_score", description="score that decides which box of a duplicate pair survives"
    )
    clip_head_recipe_id: str | None = Field(
        default=None, max_length=128, description="stored recipe whose head rescores (for the clip_head_* modes)"
    )


class Cascade(BaseModel):
    """An ordered chain of recipes applied to one image, then deduplicated."""

    model_config = ConfigDict(extra="forbid")

    steps: list[CascadeStep] = Field(min_length=1, max_length=MAX_CASCADE_STEPS, description="ordered steps")
    dedupe: CascadeDedupe = Field(default_factory=CascadeDedupe, description="dedupe and rescoring settings")

    @model_validator(mode="after")
    def _some_step_enabled(self) -> Cascade:
        if not any(step.enabled for step in self.steps):
            raise ValueError("a cascade needs at least one enabled step")
        return self

    def recipe_ids(self) -> list[str]:
        """Ids of the stored recipes the cascade refers to (steps and rescoring head), first use first."""
        ids = [step.recipe_id for step in self.steps if step.recipe_id is not None]
        if self.dedupe.clip_head_recipe_id is not None:
            ids.append(self.dedupe.clip_head_recipe_id)
        return list(dict.fromkeys(ids))

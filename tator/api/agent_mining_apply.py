"""Applying mined recipes to one image: `/agent_mining/apply_image` (one recipe) and
`/agent_mining/apply_image_chain` (a cascade, de-duplicated per class and optionally across classes).
Boxes come back YOLO-normalised, masks at the image's full size (the /sam3/text_prompt answer shape)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.agent_mining.apply import (
    ChainStep,
    Overrides,
    Sam3Access,
    apply_chain,
    apply_image,
    check_chain,
    check_recipe,
)
from tator.agent_mining.chain import Applied, ChainDedupe
from tator.agent_mining.recipe import CascadeDedupe, CascadeStep
from tator.api.clip_deps import ClipPlacesDep
from tator.api.deps import ImagesDep, StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.api.sam3.concept import IMAGE_ERRORS
from tator.api.sam3.concept_schemas import Sam3Detection, Sam3PromptResponse
from tator.errors import (
    AgentApplyRequiresSam3,
    AgentRecipeEmpty,
    AgentRecipeInvalidSchema,
    AgentRecipeNotFound,
    AgentRecipePathInvalid,
    RecipeRequired,
    StepsRequired,
)
from tator.runtime.images import DecodedImage, ImagePayload
from tator.sam3.models import concept_spec
from tator.sam3.results import yolo_box
from tator.state import AppState
from tator.vision.masks import encode_mask

router = IndexedRouter(prefix="/agent_mining", tags=["agent_mining"])
RECIPE = "A mined recipe: {steps: [{prompt, seed_threshold}], params, clip_head?, class_id?, class_name?}."


class _Apply(ImagePayload):
    model_config = ConfigDict(extra="ignore")
    sam_variant: str = Field(default="sam3", description="SAM family; recipes run only on 'sam3'.")
    mask_threshold: float | None = Field(default=None, ge=0, le=1, description="Mask cut-off (recipe's, 0.5).")
    min_size: int | None = Field(default=None, ge=0, le=100_000, description="Smallest kept box side, px (recipe's).")
    simplify_epsilon: float = Field(default=0.0, ge=0, description="Polygon simplification in pixels; echoed.")
    max_results: int | None = Field(default=None, ge=1, le=1000, description="Most detections (recipe's, 1000).")


class _StepOverrides(BaseModel):
    override_class_id: int | None = Field(default=None, description="Class id given to every detection.")
    override_class_name: str | None = Field(default=None, description="Class name given to every detection.")
    clip_head_min_prob_override: float | None = Field(default=None, ge=0, le=1, description="Head filter min_prob.")
    clip_head_margin_override: float | None = Field(default=None, ge=0, le=1, description="Head filter margin.")


class AgentApplyImageRequest(_Apply, _StepOverrides):
    recipe: dict[str, Any] | None = Field(default=None, description=RECIPE + " Required.")


class AgentApplyChainRequest(_Apply):
    steps: list[CascadeStep] = Field(default_factory=list, description="Cascade steps (one enabled at least).")
    dedupe: CascadeDedupe = Field(default_factory=CascadeDedupe, description="How the steps' outputs merge.")


class AgentDetection(Sam3Detection):
    clip_head_prob: float | None = None
    clip_head_margin: float | None = None


class AgentApplyResponse(Sam3PromptResponse):
    detections: list[AgentDetection]  # type: ignore[assignment]


ERRORS = (*IMAGE_ERRORS, AgentApplyRequiresSam3, RecipeRequired, AgentRecipeEmpty, AgentRecipeInvalidSchema)


def _access(state: AppState, places: Any) -> Sam3Access:
    return Sam3Access(state.sam, state.registry, concept_spec(state.selections, state.base_models()), places)


def _overrides(body: _StepOverrides | CascadeStep, base: _Apply, **extra: Any) -> Overrides:
    return Overrides(
        mask_threshold=base.mask_threshold, min_size=base.min_size, max_results=base.max_results,
        class_id=body.override_class_id, class_name=body.override_class_name,
        min_prob=body.clip_head_min_prob_override, margin=body.clip_head_margin_override, **extra,
    )  # fmt: skip


def _respond(items: list[Applied], warnings: list[str], image: DecodedImage, epsilon: float) -> AgentApplyResponse:
    detections = [
        AgentDetection(
            bbox=yolo_box(i.found.box, image.width, image.height),
            qwen_label=i.found.prompt,
            source="agent_recipe",
            score=round(i.found.score, 5),
            mask=encode_mask(i.found.mask) if i.found.mask is not None else None,
            simplify_epsilon=epsilon,
            class_id=i.class_id,
            class_name=i.class_name,
            clip_head_prob=i.head_prob,
            clip_head_margin=i.head_margin,
        )  # fmt: skip
        for i in items
    ]
    warnings = [*warnings, *([] if detections else ["no_results"])]
    return AgentApplyResponse(detections=detections, warnings=warnings, image_token=image.token,
                              masks=[d.mask for d in detections])  # fmt: skip


@router.post("/apply_image", response_model=AgentApplyResponse, responses=responses(*ERRORS))
def agent_apply_image(
    body: AgentApplyImageRequest, state: StateDep, images: ImagesDep, places: ClipPlacesDep
) -> AgentApplyResponse:
    """Run one mined recipe on an image (SAM3 seeds, visual expansion, de-dup, head filter)."""
    recipe = check_recipe(body.sam_variant, body.recipe)
    image = images.resolve(body)
    items, warnings = apply_image(_access(state, places), image, recipe, o=_overrides(body, body))
    return _respond(items, warnings, image, body.simplify_epsilon)


CHAIN_ERRORS = (*ERRORS, StepsRequired, AgentRecipeNotFound, AgentRecipePathInvalid)


@router.post("/apply_image_chain", response_model=AgentApplyResponse, responses=responses(*CHAIN_ERRORS))
def agent_apply_image_chain(
    body: AgentApplyChainRequest, state: StateDep, images: ImagesDep, places: ClipPlacesDep
) -> AgentApplyResponse:
    """Run a cascade of recipes on an image; merge per class always, across classes on request."""
    steps = [
        ChainStep(
            s.recipe,
            s.recipe_id,
            _overrides(s, body, group=s.dedupe_group or "", cross_class=s.participate_cross_class_dedupe),
            enabled=s.enabled,
        )  # fmt: skip
        for s in body.steps
    ]
    chain = check_chain(state.layout, body.sam_variant, steps, body.dedupe.clip_head_recipe_id)
    image = images.resolve(body)
    settings = ChainDedupe(**body.dedupe.model_dump(exclude={"clip_head_recipe_id"}))
    items, warnings = apply_chain(_access(state, places), image, chain, settings, max_results=body.max_results or 1000)
    return _respond(items, warnings, image, body.simplify_epsilon)

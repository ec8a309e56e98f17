"""Applying recipes to one image in the server, on the registry's SAM3 (as the /sam3 routes do):
`apply_image` runs one recipe, `apply_chain` a cascade of recipes merged by `chain.merge`.

A recipe's head filter reads its head only from the classifier store, and the backbone comes from the
head's own metadata resolved on this server, never from the recipe. Boxes are pixel xyxy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image
from pydantic import ValidationError

from tator.agent_mining.chain import Applied, ChainDedupe, merge
from tator.agent_mining.engines import HandleEngine
from tator.agent_mining.execute import Found, RecipeParams, RecipeStep, run_recipe
from tator.agent_mining.heads import class_index, keep, margins, probabilities
from tator.clip.active import ClipPlaces, head_backbone
from tator.clip.embed import DEFAULT_PADDING
from tator.clip.head import ClassifierHead, load_head
from tator.clip.library import resolve_classifier
from tator.errors import (
    AgentApplyRequiresSam3,
    AgentMiningRecipeInvalid,
    RecipeRequired,
    StepsRequired,
    TatorError,
)
from tator.runtime.images import DecodedImage
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.sam3.concept import vision_features
from tator.sam3.interactive import SamRuntime
from tator.sam3.predictor import tensor_bytes


@dataclass(frozen=True)
class Sam3Access:
    runtime: SamRuntime
    registry: ModelRegistry
    spec: ModelSpec  # the active SAM3
    places: ClipPlaces


@dataclass(frozen=True)
class Overrides:
    """Per-request settings; None keeps the recipe's own."""

    mask_threshold: float | None = None
    min_size: float | None = None
    max_results: int | None = None
    class_id: int | None = None
    class_name: str | None = None
    min_prob: float | None = None
    margin: float | None = None
    group: str = ""
    cross_class: bool = True


@dataclass(frozen=True)
class Recipe:
    steps: list[RecipeStep]
    params: RecipeParams
    clip_head: dict[str, Any] | None
    class_id: int | None
    class_name: str | None


def parse_recipe(raw: Mapping[str, Any] | None) -> Recipe:
    """A `sam3_steps` recipe (or a saved recipe wrapping one under `recipe`); 422 codes when unusable."""
    if not raw:
        raise RecipeRequired("recipe must be a non-empty object")
    body = raw.get("recipe") if isinstance(raw.get("recipe"), Mapping) else raw
    assert isinstance(body, Mapping)
    try:
        steps = [RecipeStep.model_validate(s) for s in body.get("steps") or []]
        params = RecipeParams.model_validate(body.get("params") or {})
    except (ValidationError, TypeError) as exc:
        raise AgentMiningRecipeInvalid(f"the recipe's steps or params are invalid: {str(exc)[:300]}") from exc
    if not steps:
        raise AgentMiningRecipeInvalid("the recipe has no steps [{prompt, seed_threshold}]")
    head = body.get("clip_head") if isinstance(body.get("clip_head"), Mapping) else None
    class_id = body.get("class_id", raw.get("class_id"))
    class_name = body.get("class_name", raw.get("class_name"))
    return Recipe(steps, params, dict(head) if head else None, int(class_id) if isinstance(class_id, int) else None,
                  str(class_name) if class_name is not None else None)  # fmt: skip


def _params(recipe: Recipe, o: Overrides) -> RecipeParams:
    changes = {"mask_threshold": o.mask_threshold, "min_size": o.min_size, "max_results": o.max_results}
    return recipe.params.model_copy(update={k: v for k, v in changes.items() if v is not None})


def _head(access: Sam3Access, clip_head: Mapping[str, Any]) -> ClassifierHead:
    return load_head(resolve_classifier(access.places.classifiers, str(clip_head.get("classifier_path") or "")))


def head_scores(access: Sam3Access, head: ClassifierHead, image: DecodedImage, found: Sequence[Found]) -> Any:
    """Class probabilities of each detection's crop under `head`, on the registry's backbone."""
    backbone = head_backbone(head, access.places, None)
    padding = float(head.meta.get("crop_padding", DEFAULT_PADDING))  # as the mining job crops (HeadRef)
    with access.registry.use(backbone.spec, exclusive=False) as encoder:
        pil = Image.fromarray(image.pixels, mode="RGB")
        return probabilities(encoder, head, pil, [f.box for f in found], padding)


def _gate(
    access: Sam3Access, image: DecodedImage, recipe: Recipe, found: list[Found], o: Overrides
) -> tuple[list[Applied], list[str]]:
    class_id = o.class_id if o.class_id is not None else recipe.class_id
    class_name = o.class_name if o.class_name is not None else recipe.class_name
    plain = [Applied(f, class_id, class_name, group=o.group, cross_class=o.cross_class) for f in found]
    if recipe.clip_head is None:
        return plain, []
    try:
        head = _head(access, recipe.clip_head)
        index = class_index(head, str(recipe.clip_head.get("class_name") or recipe.class_name or ""))
        proba = head_scores(access, head, image, found) if index is not None else None
    except TatorError:
        return plain, ["clip_head_unavailable"]
    if index is None or proba is None:
        return plain, ["clip_head_unavailable"]
    min_prob = o.min_prob if o.min_prob is not None else float(recipe.clip_head.get("min_prob", 0.5))
    margin = o.margin if o.margin is not None else float(recipe.clip_head.get("margin", 0.0))
    kept = keep(proba, index, min_prob=min_prob, margin=margin)
    diff = margins(proba, index)
    out = [replace(a, head_prob=float(proba[i, index]), head_margin=float(diff[i]))
           for i, a in enumerate(plain) if kept[i]]  # fmt: skip
    return out, []


def apply_image(
    access: Sam3Access, image: DecodedImage, raw: Mapping[str, Any] | None, *, variant: str, o: Overrides
) -> tuple[list[Applied], list[str]]:
    """One recipe on one image: its detections (best first) and warnings."""
    if variant != "sam3":
        raise AgentApplyRequiresSam3("recipes run on SAM3: send sam_variant 'sam3'", sam_variant=variant[:32])
    recipe = parse_recipe(raw)
    params = _params(recipe, o)
    with access.registry.use(access.spec) as handle:
        features, _ = access.runtime.cache.get_or_compute(
            (access.spec.key, image.token),
            lambda: vision_features(handle, image.pixels),
            lambda f: tensor_bytes(list(f.values())),
        )
        engine = HandleEngine(handle, features, image.width, image.height, params)
        found = run_recipe(engine, recipe.steps, params)
    applied, warnings = _gate(access, image, recipe, found, o)
    if o.class_id is not None or o.class_name is not None:
        warnings.append("class_override_used")
    return applied, warnings


@dataclass(frozen=True)
class ChainStep:
    recipe: Mapping[str, Any] | None
    recipe_id: str | None
    overrides: Overrides
    enabled: bool = True


def apply_chain(
    access: Sam3Access, image: DecodedImage, steps: Sequence[ChainStep], settings: ChainDedupe, *, variant: str,
    lookup: Callable[[str], Mapping[str, Any]], max_results: int,
) -> tuple[list[Applied], list[str]]:  # fmt: skip
    """Every enabled step's recipe on the image, merged per class (and optionally across classes)."""
    enabled = [s for s in steps if s.enabled]
    if not enabled:
        raise StepsRequired("apply_image_chain needs at least one enabled step")
    recipes = [lookup(s.recipe_id) if s.recipe_id and not s.recipe else s.recipe for s in enabled]
    for raw in recipes:
        parse_recipe(raw)  # refuse a bad step before running any
    items: list[Applied] = []
    warnings: list[str] = []
    for step, raw in zip(enabled, recipes, strict=True):
        applied, more = apply_image(access, image, raw, variant=variant, o=step.overrides)
        items += applied
        warnings += more
    if settings.confidence != "sam_score" and not any(i.head_prob is not None for i in items) and items:
        warnings.append("clip_head_unavailable")
    merged, more = merge(items, settings, max_results=max_results)
    return merged, sorted(set(warnings + more))

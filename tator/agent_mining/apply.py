"""Applying recipes to one image in the server, on the registry's SAM3 (as the /sam3 routes do):
`apply_image` runs one recipe, `apply_chain` a cascade of recipes merged by `chain.merge`.

A recipe's head filter reads its head only from the classifier store, and the backbone comes from the
head's own metadata resolved on this server, never from the recipe. Boxes are pixel xyxy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from tator.agent_mining.chain import Applied, ChainDedupe, merge
from tator.agent_mining.engines import HandleEngine
from tator.agent_mining.execute import Found, run_recipe
from tator.agent_mining.heads import class_index, keep, margins, probabilities
from tator.agent_mining.recipe import HeadFilter, MiningParams, MiningRecipe
from tator.agent_mining.recipe_store import load_recipe, parse_recipe
from tator.clip.active import ClipPlaces, head_backbone
from tator.clip.embed import DEFAULT_PADDING
from tator.clip.head import ClassifierHead, load_head
from tator.clip.library import resolve_classifier
from tator.errors import (
    AgentApplyRequiresSam3,
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
from tator.storage.layout import Layout


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
    min_size: int | None = None
    max_results: int | None = None
    class_id: int | None = None
    class_name: str | None = None
    min_prob: float | None = None
    margin: float | None = None
    group: str = ""
    cross_class: bool = True


@dataclass(frozen=True)
class Resolved:
    """A recipe ready to run, and the head file a saved recipe carries (None: its classifier_path in the store)."""

    recipe: MiningRecipe
    head_path: Path | None = None


def _from_client(raw: Mapping[str, Any] | None) -> MiningRecipe:
    if not raw:
        raise RecipeRequired("recipe must be a non-empty object")
    return parse_recipe(raw["recipe"] if isinstance(raw.get("recipe"), Mapping) else raw)


def _params(recipe: MiningRecipe, o: Overrides) -> MiningParams:
    changes = {"mask_threshold": o.mask_threshold, "min_size": o.min_size, "max_results": o.max_results}
    return recipe.params.model_copy(update={k: v for k, v in changes.items() if v is not None})


def _head(access: Sam3Access, clip_head: HeadFilter, head_path: Path | None) -> ClassifierHead:
    if head_path is not None:
        return load_head(head_path)
    return load_head(resolve_classifier(access.places.classifiers, clip_head.classifier_path))


def head_scores(access: Sam3Access, head: ClassifierHead, image: DecodedImage, found: Sequence[Found]) -> Any:
    """Class probabilities of each detection's crop under `head`, on the registry's backbone."""
    backbone = head_backbone(head, access.places)
    padding = float(head.meta.get("crop_padding", DEFAULT_PADDING))  # as the mining job crops (HeadRef)
    with access.registry.use(backbone.spec, exclusive=False) as encoder:
        pil = Image.fromarray(image.pixels, mode="RGB")
        return probabilities(encoder, head, pil, [f.box for f in found], padding)


def _gate(
    access: Sam3Access, image: DecodedImage, resolved: Resolved, found: list[Found], o: Overrides
) -> tuple[list[Applied], list[str]]:
    recipe = resolved.recipe
    class_id = o.class_id if o.class_id is not None else recipe.class_id
    class_name = o.class_name if o.class_name is not None else recipe.class_name
    plain = [Applied(f, class_id, class_name, group=o.group, cross_class=o.cross_class) for f in found]
    if recipe.clip_head is None:
        return plain, []
    try:
        head = _head(access, recipe.clip_head, resolved.head_path)
        index = class_index(head, recipe.class_name or "")
        proba = head_scores(access, head, image, found) if index is not None else None
    except TatorError:
        return plain, ["clip_head_unavailable"]
    if index is None or proba is None:
        return plain, ["clip_head_unavailable"]
    gate = recipe.clip_head.model_copy(
        update={k: v for k, v in (("min_prob", o.min_prob), ("margin", o.margin)) if v is not None}
    )
    kept = keep(proba, index, head.classes, gate)
    diff = margins(proba, index)
    out = [replace(a, head_prob=float(proba[i, index]), head_margin=float(diff[i]))
           for i, a in enumerate(plain) if kept[i]]  # fmt: skip
    return out, []


def check_recipe(variant: str, raw: MiningRecipe | Mapping[str, Any] | None) -> Resolved:
    """Refuse a request that cannot run (before its image is decoded)."""
    if variant != "sam3":
        raise AgentApplyRequiresSam3("recipes run on SAM3: send sam_variant 'sam3'", sam_variant=variant[:32])
    return Resolved(raw if isinstance(raw, MiningRecipe) else _from_client(raw))


def apply_image(
    access: Sam3Access, image: DecodedImage, resolved: Resolved, *, o: Overrides
) -> tuple[list[Applied], list[str]]:
    """One recipe (see `check_recipe`) on one image: its detections (best first) and warnings."""
    recipe = resolved.recipe
    params = _params(recipe, o)
    with access.registry.use(access.spec) as handle:
        features, _ = access.runtime.cache.get_or_compute(
            (access.spec.key, image.token),
            lambda: vision_features(handle, image.pixels),
            lambda f: tensor_bytes(list(f.values())),
        )
        engine = HandleEngine(handle, features, image.width, image.height, params)
        found = run_recipe(engine, recipe.steps, params)
    applied, warnings = _gate(access, image, resolved, found, o)
    if o.class_id is not None or o.class_name is not None:
        warnings.append("class_override_used")
    return applied, warnings


@dataclass(frozen=True)
class ChainStep:
    recipe: MiningRecipe | None
    recipe_id: str | None
    overrides: Overrides
    enabled: bool = True


def _saved(layout: Layout, recipe_id: str) -> Resolved:
    stored = load_recipe(layout, recipe_id)
    return Resolved(stored.recipe, stored.head_path)


def _rescore(access: Sam3Access, image: DecodedImage, items: list[Applied], resolved: Resolved) -> list[Applied]:
    """Head probability and margin of each detection's class under the head of a saved recipe."""
    if resolved.recipe.clip_head is None and resolved.head_path is None:
        return items
    head = _head(access, resolved.recipe.clip_head or HeadFilter(), resolved.head_path)
    proba = head_scores(access, head, image, [i.found for i in items])
    out = []
    for n, item in enumerate(items):
        index = class_index(head, item.class_name or "")
        if index is None:
            out.append(replace(item, head_prob=None, head_margin=None))
        else:
            diff = margins(proba[n : n + 1], index)
            out.append(replace(item, head_prob=float(proba[n, index]), head_margin=float(diff[0])))
    return out


@dataclass(frozen=True)
class Chain:
    """A cascade resolved to recipes, ready to run."""

    steps: list[tuple[Resolved, Overrides]]
    rescoring: Resolved | None


def check_chain(layout: Layout, variant: str, steps: Sequence[ChainStep], head_recipe_id: str | None) -> Chain:
    """Resolve every enabled step's recipe (and the rescoring one); refuse before the image is decoded."""
    enabled = [s for s in steps if s.enabled]
    if not enabled:
        raise StepsRequired("apply_image_chain needs at least one enabled step")
    if variant != "sam3":
        raise AgentApplyRequiresSam3("recipes run on SAM3: send sam_variant 'sam3'", sam_variant=variant[:32])
    recipes = [Resolved(s.recipe) if s.recipe is not None else _saved(layout, s.recipe_id or "") for s in enabled]
    rescoring = _saved(layout, head_recipe_id) if head_recipe_id else None
    return Chain([(r, s.overrides) for r, s in zip(recipes, enabled, strict=True)], rescoring)


def apply_chain(
    access: Sam3Access, image: DecodedImage, chain: Chain, settings: ChainDedupe, *, max_results: int
) -> tuple[list[Applied], list[str]]:
    """Every step's recipe on the image, optionally rescored by another recipe's head, merged per class (and
    optionally across classes)."""
    items: list[Applied] = []
    warnings: list[str] = []
    for recipe, overrides in chain.steps:
        applied, more = apply_image(access, image, recipe, o=overrides)
        items += applied
        warnings += more
    if chain.rescoring is not None and items:
        try:
            items = _rescore(access, image, items, chain.rescoring)
        except TatorError:
            warnings.append("clip_head_unavailable")
    if settings.confidence != "sam_score" and items and not any(i.head_prob is not None for i in items):
        warnings.append("clip_head_unavailable")
    merged, more = merge(items, settings, max_results=max_results)
    return merged, sorted(set(warnings + more))

"""`/agent_mining/recipes` and `/agent_mining/cascades`: saved mining recipes and cascades, and their zips."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Path as PathParam
from fastapi import Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tator.agent_mining.cascade_store import cascade_store, save_cascade
from tator.agent_mining.recipe_bundle import (
    CASCADE_ERRORS,
    RECIPE_ERRORS,
    export_cascade,
    export_recipe,
    import_cascade,
    import_recipe,
)
from tator.agent_mining.recipe_store import NewRecipe, list_recipes, recipe_store, save_recipe
from tator.api.bundle_upload import bundle_limits, receive_multipart, zip_download
from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.openapi_docs import multipart_body
from tator.api.routing import IndexedRouter
from tator.bundles.install import discard
from tator.bundles.manifest import BundleLimits
from tator.errors import (
    AgentCascadeInvalidSchema,
    AgentCascadeNotFound,
    AgentCascadePathInvalid,
    AgentCascadeRecipeMissing,
    AgentRecipeClassMissing,
    AgentRecipeEmpty,
    AgentRecipeInvalidSchema,
    AgentRecipeLabelmapMissing,
    AgentRecipeNotFound,
    AgentRecipePathInvalid,
    ClassifierExtensionNotAllowed,
    ClassifierLoadFailed,
    ClassifierNotFound,
    ClassifierPathNotAllowed,
    DatasetNotFound,
    DatasetUploadFileMissing,
    MultipartInvalid,
    UploadTooLarge,
)
from tator.storage.layout import Layout

recipes_router = IndexedRouter(prefix="/agent_mining/recipes", tags=["agent_mining"])
cascades_router = IndexedRouter(prefix="/agent_mining/cascades", tags=["agent_mining"])

RecipeId = Annotated[str, PathParam(description="the mining recipe id (ar_ + 8 hex)")]
CascadeId = Annotated[str, PathParam(description="the cascade id (ac_ + 8 hex)")]

_UPLOAD_ERRORS = (UploadTooLarge, DatasetUploadFileMissing, MultipartInvalid)
_RECIPE_IMPORT_ERRORS = (*RECIPE_ERRORS.all(), AgentRecipeInvalidSchema, AgentRecipeEmpty, *_UPLOAD_ERRORS)
_CASCADE_IMPORT_ERRORS = (
    *CASCADE_ERRORS.all(),
    AgentCascadeInvalidSchema,
    AgentRecipeInvalidSchema,
    AgentRecipeEmpty,
    *_UPLOAD_ERRORS,
)
_BUNDLE = multipart_body({}, files={"file": "a zip from the matching export route"}, required=("file",))


class AgentRecipeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_id: str = Field(min_length=1, max_length=128, description="dataset whose labelmap the class is from")
    class_id: int | None = Field(default=None, ge=0, description="target class index (else class_name or the recipe's)")
    class_name: str | None = Field(default=None, max_length=256, description="target class name (normalised match)")
    label: str = Field(min_length=1, max_length=128, description="display name of the saved recipe")
    recipe: dict[str, Any] = Field(
        description="a schema-v2 sam3_steps recipe: {steps: [{prompt, seed_threshold}], params, clip_head?}; "
        "clip_head.classifier_path names a head in the classifiers folder, copied into the recipe"
    )


class AgentCascadeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=128, description="display name of the saved cascade")
    steps: list[dict[str, Any]] = Field(
        description="ordered steps: {enabled, recipe_id | recipe, override_class_id, override_class_name, "
        "dedupe_group, participate_cross_class_dedupe, clip_head_min_prob_override, clip_head_margin_override}"
    )
    dedupe: dict[str, Any] = Field(
        default_factory=dict,
        description="{per_class_iou 0.5, cross_class_enabled, cross_class_iou 0.5, cross_class_scope "
        "groups|global, confidence sam_score|clip_head_prob|clip_head_margin, clip_head_recipe_id}",
    )


class AgentRecipeDeleted(BaseModel):
    id: str = Field(description="the deleted id")
    deleted: bool = Field(description="always true")


def _import(fn: Any, layout: Layout, archive: Path, limits: BundleLimits) -> dict[str, Any]:
    try:
        result: dict[str, Any] = fn(layout, archive, limits)
    finally:
        discard(archive)
    return result


@recipes_router.post("", responses=responses(
    AgentRecipeEmpty, AgentRecipeInvalidSchema, AgentRecipeClassMissing, AgentRecipeLabelmapMissing, DatasetNotFound,
    ClassifierPathNotAllowed, ClassifierNotFound, ClassifierExtensionNotAllowed, ClassifierLoadFailed,
))  # fmt: skip
def create_recipe(body: AgentRecipeRequest, layout: LayoutDep) -> dict[str, Any]:
    """Save a mining recipe for one class of a dataset (id ar_ + 8 hex); its head is copied in."""
    new = NewRecipe(body.dataset_id, body.label, body.recipe, body.class_id, body.class_name)
    return save_recipe(layout, new)


@recipes_router.get("")
def get_recipes(
    layout: LayoutDep,
    dataset_id: Annotated[str | None, Query(max_length=128, description="only this dataset's recipes")] = None,
) -> list[dict[str, Any]]:
    """List saved mining recipes, newest first."""
    return list_recipes(layout, dataset_id)


@recipes_router.get("/{recipe_id}", responses=responses(AgentRecipeNotFound, AgentRecipePathInvalid))
def get_recipe(recipe_id: RecipeId, layout: LayoutDep) -> dict[str, Any]:
    """One saved mining recipe."""
    return recipe_store(layout).get(recipe_id)


@recipes_router.get("/{recipe_id}/export", response_class=FileResponse,
                    responses=responses(AgentRecipeNotFound, AgentRecipePathInvalid))  # fmt: skip
def export_recipe_zip(recipe_id: RecipeId, layout: LayoutDep) -> FileResponse:
    """Download the recipe as a zip: manifest.json, recipe.json, clip_head/head.npz, crops/."""
    return zip_download(export_recipe(layout, recipe_id), f"agent_recipe_{recipe_id}.zip")


@recipes_router.post("/import", responses=responses(*_RECIPE_IMPORT_ERRORS), openapi_extra=_BUNDLE)
async def import_recipe_zip(request: Request, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Import a recipe zip (multipart `file`): checked whole before anything is installed."""
    archive = await receive_multipart(request, recipe_store(layout).root, settings.bundle_max_bytes)
    return await run_in_threadpool(_import, import_recipe, layout, archive, bundle_limits(settings))


@recipes_router.delete("/{recipe_id}", response_model=AgentRecipeDeleted,
                       responses=responses(AgentRecipeNotFound, AgentRecipePathInvalid))  # fmt: skip
def delete_recipe(recipe_id: RecipeId, layout: LayoutDep) -> AgentRecipeDeleted:
    """Delete a saved mining recipe (and its embedded head and crops)."""
    recipe_store(layout).delete(recipe_id)
    return AgentRecipeDeleted(id=recipe_id, deleted=True)


@cascades_router.post("", responses=responses(AgentCascadeInvalidSchema, AgentCascadeRecipeMissing))
def create_cascade(body: AgentCascadeRequest, layout: LayoutDep) -> dict[str, Any]:
    """Save a cascade (id ac_ + 8 hex); every recipe id it names must be stored."""
    return save_cascade(layout, body.label, {"steps": body.steps, "dedupe": body.dedupe})


@cascades_router.get("")
def get_cascades(layout: LayoutDep) -> list[dict[str, Any]]:
    """List saved cascades, newest first."""
    return cascade_store(layout).list()


@cascades_router.get("/{cascade_id}", responses=responses(AgentCascadeNotFound, AgentCascadePathInvalid))
def get_cascade(cascade_id: CascadeId, layout: LayoutDep) -> dict[str, Any]:
    """One saved cascade."""
    return cascade_store(layout).get(cascade_id)


@cascades_router.get("/{cascade_id}/export", response_class=FileResponse,
                     responses=responses(AgentCascadeNotFound, AgentCascadePathInvalid))  # fmt: skip
def export_cascade_zip(cascade_id: CascadeId, layout: LayoutDep) -> FileResponse:
    """Download the cascade as a zip: manifest.json, cascade.json and every recipe it names."""
    return zip_download(export_cascade(layout, cascade_id), f"agent_cascade_{cascade_id}.zip")


@cascades_router.post("/import", responses=responses(*_CASCADE_IMPORT_ERRORS), openapi_extra=_BUNDLE)
async def import_cascade_zip(request: Request, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Import a cascade zip (multipart `file`); its recipes are installed too, under fresh ids when taken."""
    archive = await receive_multipart(request, cascade_store(layout).root, settings.bundle_max_bytes)
    return await run_in_threadpool(_import, import_cascade, layout, archive, bundle_limits(settings))


@cascades_router.delete("/{cascade_id}", response_model=AgentRecipeDeleted,
                        responses=responses(AgentCascadeNotFound, AgentCascadePathInvalid))  # fmt: skip
def delete_cascade(cascade_id: CascadeId, layout: LayoutDep) -> AgentRecipeDeleted:
    """Delete a saved cascade (the recipes it names stay)."""
    cascade_store(layout).delete(cascade_id)
    return AgentRecipeDeleted(id=cascade_id, deleted=True)

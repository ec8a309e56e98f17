"""`/prepass/recipes`: saved prepass setups (config + glossary), exported and imported as checked zip bundles."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tator.api.bundle_upload import bundle_limits, receive_multipart, receive_raw, zip_download
from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.openapi_docs import multipart_body, raw_body
from tator.api.routing import IndexedRouter
from tator.bundles.install import discard
from tator.errors import (
    ClassifierExtensionNotAllowed,
    ClassifierPathNotAllowed,
    DatasetUploadFileMissing,
    InvalidId,
    MultipartInvalid,
    PathOutsideDataDir,
    PrepassRecipeInvalidConfig,
    PrepassRecipeInvalidMedia,
    PrepassRecipeLegacyCrossIouUnsupported,
    PrepassRecipeNotFound,
    PrepassRecipePathInvalid,
    UploadTooLarge,
)
from tator.prepass.recipes import PrepassRecipeStore
from tator.prepass.recipes_bundle import PREPASS_BUNDLE_ERRORS, export_recipe, import_recipe
from tator.storage.layout import Layout

router = IndexedRouter(prefix="/prepass/recipes", tags=["prepass"])

RecipeId = Annotated[str, PathParam(description="the prepass recipe id (one safe path component)")]

_IMPORT_ERRORS = (
    *PREPASS_BUNDLE_ERRORS.all(),
    PrepassRecipeInvalidConfig,
    PrepassRecipeLegacyCrossIouUnsupported,
    UploadTooLarge,
)


class PrepassRecipeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipe_id: str | None = Field(
        default=None, max_length=128, description="id to create or replace; omitted: a new uuid hex"
    )
    name: str = Field(min_length=1, max_length=256, description="display name")
    description: str = Field(default="", max_length=4096, description="free text")
    config: Any = Field(
        description="the prepass settings (a JSON object; the legacy `cross_iou` key is refused). Keys naming "
        "assets: classifier_id (under the classifiers folder), yolo_run_id, rfdetr_run_id, calibrator_dir "
        "(relative to the data folder) or calibration_job_id, dataset_id (its labelmap is exported)"
    )
    glossary: str | None = Field(default=None, max_length=1_000_000, description="label glossary text")


class PrepassRecipeResponse(BaseModel):
    id: str = Field(description="recipe id")
    name: str = Field(description="display name")
    description: str = Field(default="", description="free text")
    created_at: str | None = Field(default=None, description="ISO-8601 UTC")
    updated_at: str | None = Field(default=None, description="ISO-8601 UTC")
    config: dict[str, Any] = Field(description="the prepass settings")
    glossary: str | None = Field(default=None, description="label glossary text")
    schema_version: int = Field(default=1, description="recipe schema version")
    renamed_from: str | None = Field(default=None, description="the archived name, when import had to rename")
    notice: str | None = Field(default=None, description="a note about the import, if any")
    warnings: list[str] = Field(default_factory=list, description="e.g. yolo_run_missing:<id> after an import")


class PrepassRecipeSummary(BaseModel):
    id: str = Field(description="recipe id")
    name: str = Field(description="display name")
    description: str = Field(default="", description="free text")
    created_at: str | None = Field(default=None, description="ISO-8601 UTC")
    updated_at: str | None = Field(default=None, description="ISO-8601 UTC")
    recipe_kind: str = Field(default="saved_edr", description="saved_edr for recipes saved here")
    edr_saved_source: str | None = Field(default=None, description="imported when it came from a bundle")
    dataset_id: str | None = Field(default=None, description="config.dataset_id, if set")
    lane_selection: Any = Field(default=None, description="config.lane_selection, if set")
    recipe_fingerprint: str = Field(description="SHA-256 of the canonical config JSON")
    edr_package_id: str | None = Field(default=None, description="not used here (always null)")
    expected_mean_f1: float | None = Field(default=None, description="config.expected_mean_f1, if set")


class PrepassRecipeDeleted(BaseModel):
    status: str = Field(description="deleted")
    id: str = Field(description="recipe id")


def get_store(layout: LayoutDep) -> PrepassRecipeStore:
    return PrepassRecipeStore(layout.root("prepass_recipes"))


StoreDep = Annotated[PrepassRecipeStore, Depends(get_store)]


def _summary(record: dict[str, Any]) -> PrepassRecipeSummary:
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    assert isinstance(config, dict)
    f1 = config.get("expected_mean_f1")
    return PrepassRecipeSummary(
        id=record["id"], name=str(record.get("name") or ""), description=str(record.get("description") or ""),
        created_at=record.get("created_at"), updated_at=record.get("updated_at"),
        edr_saved_source="imported" if record.get("imported_from") else None,
        dataset_id=config.get("dataset_id") if isinstance(config.get("dataset_id"), str) else None,
        lane_selection=config.get("lane_selection"),
        recipe_fingerprint=hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest(),
        expected_mean_f1=float(f1) if isinstance(f1, int | float) else None,
    )  # fmt: skip


@router.get("", response_model=list[PrepassRecipeSummary])
def list_recipes(store: StoreDep) -> list[PrepassRecipeSummary]:
    """List saved prepass recipes, newest update first."""
    return [_summary(record) for record in store.list()]


@router.get("/{recipe_id}", response_model=PrepassRecipeResponse,
            responses=responses(PrepassRecipeNotFound, PrepassRecipePathInvalid))  # fmt: skip
def get_recipe(recipe_id: RecipeId, store: StoreDep) -> dict[str, Any]:
    """One saved prepass recipe."""
    return store.get(recipe_id)


@router.post("", response_model=PrepassRecipeResponse,
             responses=responses(PrepassRecipeInvalidConfig, PrepassRecipeLegacyCrossIouUnsupported,
                                 PrepassRecipePathInvalid))  # fmt: skip
def save_recipe(body: PrepassRecipeRequest, store: StoreDep) -> dict[str, Any]:
    """Create or replace a prepass recipe (upsert: an existing id keeps its created_at)."""
    fields = body.model_dump(exclude={"recipe_id"})
    return store.save(store.build(recipe_id=body.recipe_id, **fields))


@router.delete("/{recipe_id}", response_model=PrepassRecipeDeleted,
               responses=responses(PrepassRecipeNotFound, PrepassRecipePathInvalid))  # fmt: skip
def delete_recipe(recipe_id: RecipeId, store: StoreDep) -> PrepassRecipeDeleted:
    """Delete a prepass recipe and the assets its import installed in its folder."""
    store.delete(recipe_id)
    return PrepassRecipeDeleted(status="deleted", id=recipe_id)


@router.post("/{recipe_id}/export", response_class=FileResponse,
             responses=responses(PrepassRecipeNotFound, PrepassRecipePathInvalid, ClassifierPathNotAllowed,
                                 ClassifierExtensionNotAllowed, PathOutsideDataDir, InvalidId))  # fmt: skip
def export(recipe_id: RecipeId, store: StoreDep, layout: LayoutDep) -> FileResponse:
    """Download the recipe as a zip: manifest.json (size + sha256 of every asset) and its assets."""
    path, _manifest = export_recipe(store, layout, recipe_id)
    return zip_download(path, f"prepass_recipe_{recipe_id}.zip")


def _import(store: PrepassRecipeStore, layout: Layout, archive: Path, settings: SettingsDep) -> dict[str, Any]:
    try:
        record, warnings = import_recipe(store, layout, archive, bundle_limits(settings))
    finally:
        discard(archive)
    return {**record, "warnings": warnings}


@router.post("/import", response_model=PrepassRecipeResponse,
             responses=responses(*_IMPORT_ERRORS, DatasetUploadFileMissing, MultipartInvalid),
             openapi_extra=multipart_body({}, files={"file": "a prepass recipe zip (from export)"},
                                          required=("file",)))  # fmt: skip
async def import_multipart(
    request: Request, store: StoreDep, layout: LayoutDep, settings: SettingsDep
) -> dict[str, Any]:
    """Import a recipe zip (multipart `file`): everything is checked before anything is installed."""
    archive = await receive_multipart(request, store.root, settings.bundle_max_bytes)
    return await run_in_threadpool(_import, store, layout, archive, settings)


@router.post("/import-raw", response_model=PrepassRecipeResponse,
             responses=responses(*_IMPORT_ERRORS, PrepassRecipeInvalidMedia),
             openapi_extra=raw_body("application/zip", "a prepass recipe zip (from export)"))  # fmt: skip
async def import_raw(request: Request, store: StoreDep, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Import a recipe zip sent as the raw body (Content-Type: application/zip, else 415)."""
    archive = await receive_raw(request, store.root, settings.bundle_max_bytes, PrepassRecipeInvalidMedia)
    return await run_in_threadpool(_import, store, layout, archive, settings)

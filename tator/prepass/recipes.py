"""Saved prepass recipes: `uploads/prepass_recipes/<id>/prepass.meta.json` (+ the assets an import installed).

A recipe is `{id, schema_version, name, description, config, glossary, created_at, updated_at}`; `config` is the
prepass settings object. Saving is an upsert: a new id is a uuid hex, an existing id keeps its `created_at`.
The legacy `cross_iou` key is refused (its meaning changed; the dedupe settings replace it), and keys that
are prepass settings (`tator.prepass.config.PrepassConfig`) must hold valid values. Ids are one safe
path component (`prepass_recipe_path_invalid` otherwise, never rewritten) and symlinked recipe folders are
refused. Every write is atomic (temp file + rename); a delete renames the folder aside, then removes it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tator.bundles.install import staging_path
from tator.bundles.manifest import first_problem
from tator.errors import (
    InvalidId,
    InvalidRelativePath,
    PathOutsideDataDir,
    PrepassRecipeInvalidConfig,
    PrepassRecipeLegacyCrossIouUnsupported,
    PrepassRecipeNotFound,
    PrepassRecipePathInvalid,
)
from tator.prepass.config import PrepassConfig
from tator.storage.files import atomic_write_json
from tator.storage.paths import PathGuard, check_id, check_relative

log = logging.getLogger(__name__)

META_NAME = "prepass.meta.json"
LEGACY_META_NAME = "recipe.json"
SCHEMA_VERSION = 1
LEGACY_KEYS = ("cross_iou",)
# Config keys that name assets: ids are one path component, paths relative ones (checked when saved).
ID_KEYS = ("yolo_run_id", "rfdetr_run_id", "calibration_job_id", "dataset_id")
PATH_KEYS = ("classifier_id", "classifier_path", "calibrator_dir")
MAX_CONFIG_BYTES = 1024 * 1024
MAX_LISTED = 5000


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _legacy_keys(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, child in value.items():
            if key in LEGACY_KEYS:
                yield str(key)
            yield from _legacy_keys(child)
    elif isinstance(value, list):
        for child in value:
            yield from _legacy_keys(child)


def _check_known_knobs(config: dict[str, Any]) -> None:
    """The keys that are prepass settings must be valid ones (types, ranges); other keys (asset references,
    settings of the existing frontend this server does not use) are kept as given."""
    known = {key: value for key, value in config.items() if key in PrepassConfig.model_fields}
    try:
        PrepassConfig.model_validate(known)
    except ValidationError as exc:
        where, problem = first_problem(exc)
        raise PrepassRecipeInvalidConfig(f"config.{where}: {problem}", field=where) from exc


def _check_asset_keys(config: dict[str, Any]) -> None:
    for key in (*ID_KEYS, *PATH_KEYS):
        value = config.get(key)
        if value is None:
            continue
        try:
            if not isinstance(value, str):
                raise PrepassRecipeInvalidConfig(f"config.{key} must be a string or null", field=key)
            if key in ID_KEYS:
                check_id(value, what=key)
            elif not value.startswith("/"):  # absolute paths are checked against their folder when used
                check_relative(value)
        except (InvalidId, InvalidRelativePath) as exc:
            raise PrepassRecipeInvalidConfig(f"config.{key}: {exc.message}", field=key) from exc


def check_config(config: object) -> dict[str, Any]:
    """The config if it is a JSON object without legacy keys (anywhere in it), of bounded size."""
    if not isinstance(config, dict):
        raise PrepassRecipeInvalidConfig("config must be a JSON object", got=type(config).__name__)
    legacy = next(_legacy_keys(config), None)
    if legacy is not None:
        raise PrepassRecipeLegacyCrossIouUnsupported(
            f"config key {legacy!r} is no longer supported; set the dedupe IoU settings instead", key=legacy
        )
    _check_known_knobs(config)
    _check_asset_keys(config)
    try:
        size = len(json.dumps(config))
    except (TypeError, ValueError) as exc:
        raise PrepassRecipeInvalidConfig("config must be plain JSON") from exc
    if size > MAX_CONFIG_BYTES:
        raise PrepassRecipeInvalidConfig(f"config is over {MAX_CONFIG_BYTES} bytes as JSON")
    return config


class PrepassRecipeStore:
    """The recipes under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.guard = PathGuard(root)

    def folder(self, recipe_id: str) -> Path:
        """The recipe's folder (it may not exist); 400 prepass_recipe_path_invalid for unsafe ids or symlinks."""
        try:
            path = self.guard.child(check_id(recipe_id, what="recipe_id", error=PrepassRecipePathInvalid))
        except (InvalidId, PathOutsideDataDir) as exc:
            raise PrepassRecipePathInvalid("recipe id leaves the recipe folder") from exc
        if (self.root / recipe_id).is_symlink():
            raise PrepassRecipePathInvalid("recipe folders must not be symlinks", recipe_id=recipe_id)
        return path

    def _meta_path(self, recipe_id: str) -> Path:
        folder = self.folder(recipe_id)
        for name in (META_NAME, LEGACY_META_NAME):
            if (folder / name).is_file():
                return folder / name
        raise PrepassRecipeNotFound(f"prepass recipe {recipe_id!r} not found", recipe_id=recipe_id)

    def get(self, recipe_id: str) -> dict[str, Any]:
        """The stored recipe; 404 prepass_recipe_not_found."""
        try:
            record = json.loads(self._meta_path(recipe_id).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PrepassRecipeNotFound(f"prepass recipe {recipe_id!r} is unreadable", recipe_id=recipe_id) from exc
        if not isinstance(record, dict):
            raise PrepassRecipeNotFound(f"prepass recipe {recipe_id!r} is unreadable", recipe_id=recipe_id)
        return {**record, "id": recipe_id}

    def exists(self, recipe_id: str) -> bool:
        try:
            self._meta_path(recipe_id)
        except PrepassRecipeNotFound:
            return False
        return True

    def build(
        self,
        *,
        name: str,
        config: object,
        recipe_id: str | None = None,
        description: str = "",
        glossary: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The record a save would write (config checked; an existing id keeps its `created_at`)."""
        config = check_config(config)
        recipe_id = recipe_id or uuid.uuid4().hex
        self.folder(recipe_id)
        previous = self.get(recipe_id) if self.exists(recipe_id) else {}
        stamp = now_iso()
        return {
            **dict(extra or {}),
            "id": recipe_id, "schema_version": SCHEMA_VERSION, "name": name, "description": description,
            "config": config, "glossary": glossary, "created_at": previous.get("created_at", stamp),
            "updated_at": stamp,
        }  # fmt: skip

    def save(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write a built record (create or replace: an upsert); returns it."""
        folder = self.folder(record["id"])
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / META_NAME, record)
        log.info("prepass_recipe.saved id=%s name=%r", record["id"], str(record["name"])[:80])
        return record

    def list(self) -> list[dict[str, Any]]:
        """Every readable recipe, newest update first (hidden and unreadable folders are skipped)."""
        records = []
        for entry in sorted(self.root.iterdir())[:MAX_LISTED] if self.root.is_dir() else []:
            if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
                continue
            try:
                records.append(self.get(entry.name))
            except (PrepassRecipeNotFound, PrepassRecipePathInvalid):
                continue
        records.sort(key=lambda r: (str(r.get("updated_at") or ""), str(r.get("created_at") or "")), reverse=True)
        return records

    def delete(self, recipe_id: str) -> None:
        """Remove a recipe and its assets; 404 if absent."""
        folder = self._meta_path(recipe_id).parent
        doomed = self.root / f".deleting-{uuid.uuid4().hex}"
        os.rename(folder, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        log.info("prepass_recipe.deleted id=%s", recipe_id)

    def names(self) -> set[str]:
        return {str(r.get("name") or "") for r in self.list()}

    def staging(self) -> Path:
        return staging_path(self.root)

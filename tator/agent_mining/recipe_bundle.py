"""Mining recipes and cascades as checked zip bundles (`tator.bundles`).

A recipe zip holds `recipe.json`, `clip_head/head.npz` (the safe head format) and any `crops/` images; a cascade
zip holds `cascade.json` and every recipe it names under `recipes/<id>/`. Import checks the whole archive first
(paths, sizes, digests, data-only content), then the recipe/cascade schema and that every head loads, and only
then installs, each recipe folder with one rename; a cascade's recipes get fresh ids when theirs are taken and
its steps are rewritten to them. An imported head is also published in the classifiers folder under a fresh
name and the recipe's `clip_head.classifier_path` names it (apply reads heads only from there).
A label already taken gets " (1)", " (2)" ... (`renamed_from`).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

from tator.agent_mining.cascade_store import CASCADE_NAME, cascade_record, cascade_store, parse_cascade
from tator.agent_mining.recipe_records import RecordStore, now_iso
from tator.agent_mining.recipe_store import HEAD_FILE, RECIPE_NAME, head_info, parse_recipe, recipe_store
from tator.bundles.archive import BundleFile, open_bundle, read_json_asset, write_bundle
from tator.bundles.install import export_path, unique_file, unique_name
from tator.bundles.manifest import BundleErrors, BundleLimits
from tator.errors import (
    AgentCascadeImportAssetMismatch,
    AgentCascadeImportAssetUnsafe,
    AgentCascadeImportFailed,
    AgentCascadeImportInvalidPath,
    AgentCascadeImportManifestInvalid,
    AgentCascadeImportMemberMissing,
    AgentCascadeImportSchemaMismatch,
    AgentCascadeImportTooLarge,
    AgentRecipeImportAssetMismatch,
    AgentRecipeImportAssetUnsafe,
    AgentRecipeImportFailed,
    AgentRecipeImportInvalidPath,
    AgentRecipeImportManifestInvalid,
    AgentRecipeImportMemberMissing,
    AgentRecipeImportSchemaMismatch,
    AgentRecipeImportTooLarge,
    ClassifierLoadFailed,
    TatorError,
)
from tator.storage.files import atomic_copy, remove_tree
from tator.storage.layout import Layout

log = logging.getLogger(__name__)

RECIPE_KIND = "agent_recipe"
CASCADE_KIND = "agent_cascade"
RECIPE_ERRORS = BundleErrors(
    invalid=AgentRecipeImportFailed, path=AgentRecipeImportInvalidPath, too_large=AgentRecipeImportTooLarge,
    manifest=AgentRecipeImportManifestInvalid, schema=AgentRecipeImportSchemaMismatch,
    manifest_path=AgentRecipeImportInvalidPath, missing=AgentRecipeImportMemberMissing,
    mismatch=AgentRecipeImportAssetMismatch, unsafe=AgentRecipeImportAssetUnsafe,
)  # fmt: skip
CASCADE_ERRORS = BundleErrors(
    invalid=AgentCascadeImportFailed, path=AgentCascadeImportInvalidPath, too_large=AgentCascadeImportTooLarge,
    manifest=AgentCascadeImportManifestInvalid, schema=AgentCascadeImportSchemaMismatch,
    manifest_path=AgentCascadeImportInvalidPath, missing=AgentCascadeImportMemberMissing,
    mismatch=AgentCascadeImportAssetMismatch, unsafe=AgentCascadeImportAssetUnsafe,
)  # fmt: skip
CROPS_DIR = "crops"


def _recipe_files(store: RecordStore, recipe_id: str, prefix: str = "") -> list[BundleFile]:
    folder = store.existing(recipe_id)
    record = store.get(recipe_id)
    files = [BundleFile(f"{prefix}{RECIPE_NAME}", "recipe", json.dumps(record, indent=1).encode("utf-8"))]
    if (folder / HEAD_FILE).is_file():
        files.append(BundleFile(f"{prefix}{HEAD_FILE}", "classifier_head", folder / HEAD_FILE))
    crops = folder / CROPS_DIR
    if crops.is_dir():
        for crop in sorted(p for p in crops.iterdir() if p.is_file() and not p.is_symlink()):
            files.append(BundleFile(f"{prefix}{CROPS_DIR}/{crop.name}", "crop", crop))
    return files


def export_recipe(layout: Layout, recipe_id: str) -> Path:
    """The recipe's bundle in a hidden temp zip (the caller streams, then deletes it)."""
    store = recipe_store(layout)
    files = _recipe_files(store, recipe_id)
    dest = export_path(store.root, recipe_id)
    label = str(store.get(recipe_id).get("label") or recipe_id)
    write_bundle(dest, kind=RECIPE_KIND, name=label, files=files, extra={"recipe_id": recipe_id})
    return dest


def export_cascade(layout: Layout, cascade_id: str) -> Path:
    """The cascade's bundle (with every recipe it names) in a hidden temp zip."""
    store = cascade_store(layout)
    record = store.get(cascade_id)
    cascade = parse_cascade({"steps": record.get("steps"), "dedupe": record.get("dedupe")})
    files = [BundleFile(CASCADE_NAME, "cascade", json.dumps(record, indent=1).encode("utf-8"))]
    recipes = recipe_store(layout)
    for recipe_id in cascade.recipe_ids():
        files.extend(_recipe_files(recipes, recipe_id, prefix=f"recipes/{recipe_id}/"))
    dest = export_path(store.root, cascade_id)
    write_bundle(dest, kind=CASCADE_KIND, name=str(record.get("label") or cascade_id), files=files,
                 extra={"cascade_id": cascade_id})  # fmt: skip
    return dest


def _checked_recipe(folder: Path, unsafe: type[TatorError], invalid: type[TatorError]) -> dict[str, Any]:
    """The staged recipe record, its recipe validated and its head (if any) loaded with the safe reader."""
    record = read_json_asset(folder, RECIPE_NAME) if (folder / RECIPE_NAME).is_file() else None
    if not isinstance(record, dict) or not isinstance(record.get("label"), str):
        raise invalid(f"{RECIPE_NAME} must hold a recipe record with a label")
    recipe = parse_recipe(record.get("recipe"))
    head = folder / HEAD_FILE
    try:
        info = head_info(head, source=None) if head.is_file() else None
    except ClassifierLoadFailed as exc:
        raise unsafe(f"the embedded head does not load: {exc.message}") from exc
    return {**record, "recipe": recipe.model_dump(mode="json"), "clip_head": info}


def _publish_head(layout: Layout, folder: Path, record: dict[str, Any], published: list[Path]) -> dict[str, Any]:
    """Copy an imported recipe's head into the classifiers folder (fresh name) and point the recipe's head
    filter at it: apply reads heads only from there. The recipe keeps its own copy too."""
    clip_head = record["recipe"].get("clip_head")
    if not (folder / HEAD_FILE).is_file() or not isinstance(clip_head, dict):
        return record
    source = str((record.get("clip_head") or {}).get("source") or "") or str(clip_head.get("classifier_path") or "")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(source).stem or "head").strip("._")[:100] or "head"
    target = unique_file(layout.root("classifiers"), f"{stem}.npz")
    atomic_copy(folder / HEAD_FILE, target)
    published.append(target)
    recipe = {**record["recipe"], "clip_head": {**clip_head, "classifier_path": target.name}}
    return {**record, "recipe": recipe, "clip_head": {**record["clip_head"], "source": target.name}}


def _identity(store: RecordStore, wanted: object, label: str, taken: set[str]) -> tuple[str, str, str | None]:
    """The archived id when valid and free (else a fresh one), and a label not in `taken`."""
    free = isinstance(wanted, str) and store.valid_id(wanted) and not (store.root / wanted).exists()
    record_id = str(wanted) if free else store.new_id()
    unique = unique_name(label[:128] or record_id, taken)
    return record_id, unique, (label if unique != label else None)


def _finish(record: dict[str, Any], record_id: str, label: str, renamed_from: str | None) -> dict[str, Any]:
    out = {**record, "id": record_id, "label": label, "imported_at": now_iso(), "updated_at": now_iso()}
    out.pop("renamed_from", None)
    if renamed_from is not None:
        out["renamed_from"] = renamed_from
    return out


def import_recipe(layout: Layout, archive: Path, limits: BundleLimits) -> dict[str, Any]:
    """Check a recipe zip whole, then install it as a new recipe; returns the stored record."""
    store = recipe_store(layout)
    staging = store.staging()
    open_bundle(archive, staging, kind=RECIPE_KIND, limits=limits, errors=RECIPE_ERRORS)
    published: list[Path] = []
    try:
        record = _checked_recipe(staging, AgentRecipeImportAssetUnsafe, AgentRecipeImportManifestInvalid)
        record_id, label, renamed = _identity(store, record.get("id"), record["label"], store.labels())
        record = _publish_head(layout, staging, record, published)
        stored = store.install(staging, _finish(record, record_id, label, renamed))
    except BaseException:
        remove_tree(staging)
        for head in published:
            head.unlink(missing_ok=True)
        raise
    log.info("agent_recipe.imported id=%s renamed=%s", stored["id"], renamed is not None)
    return stored


def import_cascade(layout: Layout, archive: Path, limits: BundleLimits) -> dict[str, Any]:
    """Check a cascade zip whole (and every recipe inside), then install the recipes and the cascade."""
    store, recipes = cascade_store(layout), recipe_store(layout)
    staging = store.staging()
    open_bundle(archive, staging, kind=CASCADE_KIND, limits=limits, errors=CASCADE_ERRORS)
    installed: list[Path] = []
    published: list[Path] = []
    try:
        raw = read_json_asset(staging, CASCADE_NAME) if (staging / CASCADE_NAME).is_file() else None
        if not isinstance(raw, dict) or not isinstance(raw.get("label"), str):
            raise AgentCascadeImportManifestInvalid(f"{CASCADE_NAME} must hold a cascade record with a label")
        cascade = parse_cascade({"steps": raw.get("steps"), "dedupe": raw.get("dedupe")})
        bad = [rid for rid in cascade.recipe_ids() if not recipes.valid_id(rid)]
        if bad:
            raise AgentCascadeImportInvalidPath(f"recipe id {bad[0][:64]!r} is not ar_ + 8 hex", recipe_id=bad[0][:64])
        staged = {rid: staging / "recipes" / rid for rid in cascade.recipe_ids()}
        missing = [rid for rid, folder in staged.items() if not (folder / RECIPE_NAME).is_file()]
        if missing:
            raise AgentCascadeImportMemberMissing(f"recipe {missing[0][:64]!r} is named but not in the archive")
        checked = {rid: _checked_recipe(f, AgentCascadeImportAssetUnsafe, AgentCascadeImportManifestInvalid)
                   for rid, f in staged.items()}  # fmt: skip
        checked = {rid: _publish_head(layout, staged[rid], record, published) for rid, record in checked.items()}
        mapping = _install_recipes(recipes, staged, checked, installed)
        steps = [s.model_copy(update={"recipe_id": mapping[s.recipe_id]}) if s.recipe_id else s for s in cascade.steps]
        head_id = cascade.dedupe.clip_head_recipe_id
        dedupe = cascade.dedupe.model_copy(update={"clip_head_recipe_id": mapping[head_id] if head_id else None})
        cascade = cascade.model_copy(update={"steps": steps, "dedupe": dedupe})
        record_id, label, renamed = _identity(store, raw.get("id"), raw["label"], store.labels())
        shutil.rmtree(staging / "recipes", ignore_errors=True)
        record = _finish(cascade_record(record_id, label, cascade, raw.get("created_at")), record_id, label, renamed)
        stored = store.install(staging, record)
    except BaseException:
        remove_tree(staging)
        for folder in installed:
            remove_tree(folder)
        for head in published:
            head.unlink(missing_ok=True)
        raise
    log.info("agent_cascade.imported id=%s recipes=%d", stored["id"], len(installed))
    return {**stored, "recipe_id_map": mapping}


def _install_recipes(
    recipes: RecordStore, staged: dict[str, Path], checked: dict[str, dict[str, Any]], installed: list[Path]
) -> dict[str, str]:
    """Install each staged recipe folder (fresh id when taken) and return old id -> new id."""
    mapping: dict[str, str] = {}
    for old_id, folder in staged.items():
        record = checked[old_id]
        record_id, label, renamed = _identity(recipes, old_id, record["label"], recipes.labels())
        stored = recipes.install(folder, _finish(record, record_id, label, renamed))
        installed.append(recipes.folder(stored["id"]))
        mapping[old_id] = stored["id"]
    return mapping

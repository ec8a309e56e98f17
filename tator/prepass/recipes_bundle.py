"""Export and import of prepass recipes as checked zip bundles (`tator.bundles`).

Export ships `prepass.meta.json`, `glossary.json`, `labelmap.txt`, the classifier head (safe `.npz`) and the
calibrator files (XGBoost JSON/UBJ, JSON thresholds, safetensors) the config names. Detector runs are named,
not shipped (their weights are pickles): the manifest records run id + SHA-256 of the weights, and import
resolves them against local runs, answering a warning for each one that is absent or differs.
Import installs the head into the classifiers folder under a fresh name and the calibrator inside the recipe
folder, rewriting the config to point at them; a name already taken gets " (1)", " (2)" ... (`renamed_from`).

Config keys that name assets (until the prepass request model lands, the one list of them):
`classifier_id`/`classifier_path` (relative to the classifiers folder), `yolo_run_id`, `rfdetr_run_id`,
`calibrator_dir` (relative to the uploads folder) or `calibration_job_id` (its `calibrator/` folder), and
`dataset_id` (for the labelmap). An imported calibrator is installed in the recipe folder and named by
`calibrator_dir` (`prepass_recipes/<id>/assets/calibrator`).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from tator.bundles.archive import BundleFile, open_bundle, read_json_asset, write_bundle
from tator.bundles.content import UnsafeContent, check_file
from tator.bundles.install import export_path, unique_file, unique_name
from tator.bundles.manifest import BundleErrors, BundleLimits, BundleReference, Manifest
from tator.clip.head import load_head
from tator.clip.library import resolve_classifier
from tator.datasets.catalog import find_dataset
from tator.datasets.labels import labelmap_text, read_labelmap
from tator.errors import (
    ClassifierLoadFailed,
    ClassifierNotFound,
    PrepassRecipeArchiveInvalid,
    PrepassRecipeArchivePathTraversal,
    PrepassRecipeArchiveTooLarge,
    PrepassRecipeAssetMismatch,
    PrepassRecipeAssetUnsafe,
    PrepassRecipeManifestInvalid,
    PrepassRecipeManifestMissing,
    PrepassRecipeManifestPath,
    PrepassRecipeSchemaMismatch,
    TatorError,
)
from tator.prepass.recipes import META_NAME, PrepassRecipeStore, check_config
from tator.storage.files import atomic_copy, atomic_write_json, file_sha256, remove_tree
from tator.storage.layout import Layout
from tator.storage.paths import PathGuard

log = logging.getLogger(__name__)

KIND = "prepass_recipe"
PREPASS_BUNDLE_ERRORS = BundleErrors(
    invalid=PrepassRecipeArchiveInvalid, path=PrepassRecipeArchivePathTraversal,
    too_large=PrepassRecipeArchiveTooLarge, manifest=PrepassRecipeManifestInvalid,
    schema=PrepassRecipeSchemaMismatch, manifest_path=PrepassRecipeManifestPath,
    missing=PrepassRecipeManifestMissing, mismatch=PrepassRecipeAssetMismatch, unsafe=PrepassRecipeAssetUnsafe,
)  # fmt: skip
CLASSIFIER_KEYS = ("classifier_id", "classifier_path")
DETECTOR_KEYS = {"yolo_run_id": ("yolo_run", "yolo_runs"), "rfdetr_run_id": ("rfdetr_run", "rfdetr_runs")}
WEIGHTS_NAME = "best.pt"
CALIBRATOR_ASSET_DIR = "assets/calibrator"
MAX_CALIBRATOR_FILES = 256
JOB_CALIBRATOR_DIR = "calibrator"  # where a calibration job leaves its calibrator (calibration_jobs/<id>/calibrator)


@dataclass
class _Export:
    files: list[BundleFile] = field(default_factory=list)
    references: list[BundleReference] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def _labelmap(layout: Layout, config: dict[str, Any]) -> list[str]:
    names = config.get("labelmap")
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    dataset_id = config.get("dataset_id")
    if isinstance(dataset_id, str) and dataset_id:
        try:
            path = find_dataset(layout, dataset_id).path / "labelmap.txt"
        except TatorError:
            return []
        return read_labelmap(path) if path.is_file() else []
    return []


def _add_head(out: _Export, layout: Layout, config: dict[str, Any]) -> None:
    for key in CLASSIFIER_KEYS:
        value = config.get(key)
        if isinstance(value, str) and value:
            try:
                path = resolve_classifier(layout.root("classifiers"), value, what=key)
            except ClassifierNotFound:
                out.missing.append(f"classifier_head:{value[:200]}")
                return
            out.files.append(BundleFile(f"assets/classifier/{path.name}", "classifier_head", path))
            return


def _calibrator_dir(layout: Layout, config: dict[str, Any]) -> Path | None:
    value, job_id = config.get("calibrator_dir"), config.get("calibration_job_id")
    if isinstance(value, str) and value:
        return layout.guard.relative(value)
    if isinstance(job_id, str) and job_id:
        return layout.guard_for("calibration_jobs").child(job_id) / JOB_CALIBRATOR_DIR
    return None


def _add_calibrator(out: _Export, layout: Layout, config: dict[str, Any]) -> None:
    folder = _calibrator_dir(layout, config)
    if folder is None:
        return
    if not folder.is_dir():
        out.missing.append(f"calibrator:{folder.name}")
        return
    guard = PathGuard(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink() and guard.contains(p))
    for path in files[:MAX_CALIBRATOR_FILES]:
        rel = path.relative_to(folder).as_posix()
        try:
            check_file(path)
        except UnsafeContent:
            out.missing.append(f"calibrator:{rel[:200]}")  # e.g. a pickle the calibrator kept: never shipped
            continue
        out.files.append(BundleFile(f"{CALIBRATOR_ASSET_DIR}/{rel}", "calibrator", path))


def _add_detectors(out: _Export, layout: Layout, config: dict[str, Any]) -> None:
    for key, (role, root) in DETECTOR_KEYS.items():
        run_id = config.get(key)
        if not isinstance(run_id, str) or not run_id:
            continue
        weights = layout.guard_for(root).child(run_id) / WEIGHTS_NAME
        if not weights.is_file():
            out.missing.append(f"{role}:{run_id}")
            continue
        out.references.append(BundleReference(role=role, id=run_id, file=WEIGHTS_NAME, sha256=file_sha256(weights)))
        labelmap = weights.parent / "labelmap.txt"
        if labelmap.is_file():
            out.files.append(BundleFile(f"assets/{role}/labelmap.txt", f"{role}_labelmap", labelmap))


def export_recipe(store: PrepassRecipeStore, layout: Layout, recipe_id: str) -> tuple[Path, Manifest]:
    """Write the recipe's bundle to a hidden temp zip in the store (the caller streams, then deletes it)."""
    record = store.get(recipe_id)
    config: dict[str, Any] = record["config"] if isinstance(record.get("config"), dict) else {}
    meta = {k: v for k, v in record.items() if k not in ("dataset_id", "assets", "references")}
    out = _Export(files=[BundleFile(META_NAME, "recipe", json.dumps(meta, indent=1).encode("utf-8"))])
    if record.get("glossary"):
        out.files.append(BundleFile("glossary.json", "glossary", json.dumps({"glossary": record["glossary"]}).encode()))
    names = _labelmap(layout, config)
    if names:
        out.files.append(BundleFile("labelmap.txt", "labelmap", labelmap_text(names).encode("utf-8")))
    _add_head(out, layout, config)
    _add_calibrator(out, layout, config)
    _add_detectors(out, layout, config)
    dest = export_path(store.root, recipe_id)
    manifest = write_bundle(
        dest, kind=KIND, name=str(record.get("name") or recipe_id), files=out.files,
        references=out.references, missing=out.missing, extra={"recipe_id": recipe_id},
    )  # fmt: skip
    return dest, manifest


def _resolve_references(layout: Layout, manifest: Manifest) -> list[str]:
    """Warnings for detector runs the recipe names that this server lacks or holds with other weights."""
    warnings = []
    roots = dict(DETECTOR_KEYS.values())
    for ref in manifest.references:
        root = roots.get(ref.role)
        if root is None:
            continue
        try:
            weights = layout.guard_for(root).child(ref.id) / (ref.file or WEIGHTS_NAME)
        except TatorError:
            warnings.append(f"{ref.role}_missing:{ref.id[:128]}")
            continue
        if not weights.is_file():
            warnings.append(f"{ref.role}_missing:{ref.id}")
        elif ref.sha256 and file_sha256(weights) != ref.sha256:
            warnings.append(f"{ref.role}_weights_differ:{ref.id}")
    return warnings


def _install_head(layout: Layout, staging: Path, manifest: Manifest, config: dict[str, Any]) -> Path | None:
    heads = [a for a in manifest.assets if a.role == "classifier_head"]
    if not heads:
        return None
    staged = staging.joinpath(*heads[0].path.split("/"))
    try:
        load_head(staged)  # the full safe reader: a head that does not load is refused, never installed
    except ClassifierLoadFailed as exc:
        raise PrepassRecipeAssetUnsafe(f"the classifier head does not load: {exc.message}") from exc
    root = layout.root("classifiers")
    target = unique_file(root, PurePosixPath(heads[0].path).name)
    atomic_copy(staged, target)
    for key in CLASSIFIER_KEYS:
        config.pop(key, None)
    config["classifier_id"] = target.name
    return target


def import_recipe(
    store: PrepassRecipeStore, layout: Layout, archive: Path, limits: BundleLimits
) -> tuple[dict[str, Any], list[str]]:
    """Check `archive` whole, then install it as a new recipe; returns (record, warnings)."""
    staging = store.staging()
    manifest = open_bundle(archive, staging, kind=KIND, limits=limits, errors=PREPASS_BUNDLE_ERRORS)
    installed_head: Path | None = None
    try:
        meta = read_json_asset(staging, META_NAME) if (staging / META_NAME).is_file() else None
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or "config" not in meta:
            raise PrepassRecipeManifestInvalid(f"{META_NAME} must hold a recipe with a name and a config")
        config = dict(meta["config"]) if isinstance(meta["config"], dict) else meta["config"]
        config = check_config(config)
        warnings = _resolve_references(layout, manifest)
        record, renamed_from = _new_identity(store, meta)
        installed_head = _install_head(layout, staging, manifest, config)
        if any(a.role == "calibrator" for a in manifest.assets):
            config.pop("calibration_job_id", None)
            config["calibrator_dir"] = f"{store.root.name}/{record['id']}/{CALIBRATOR_ASSET_DIR}"
        extra: dict[str, Any] = {
            "imported_from": {"recipe_id": manifest.extra.get("recipe_id"), "created": manifest.created}
        }
        if renamed_from is not None:
            extra["renamed_from"] = renamed_from
        saved = store.build(
            name=record["name"], config=config, recipe_id=record["id"], description=str(meta.get("description") or ""),
            glossary=meta.get("glossary") if isinstance(meta.get("glossary"), str) else None, extra=extra,
        )  # fmt: skip
        saved = _install(store, staging, saved)
    except BaseException:
        remove_tree(staging)
        if installed_head is not None:
            installed_head.unlink(missing_ok=True)
        raise
    log.info("prepass_recipe.imported id=%s warnings=%d", saved["id"], len(warnings))
    return saved, warnings


def _install(store: PrepassRecipeStore, staging: Path, record: dict[str, Any]) -> dict[str, Any]:
    """One rename: the recipe appears whole or not at all; a concurrent import that took the id meanwhile
    makes this one take a fresh id."""
    for _attempt in range(4):
        atomic_write_json(staging / META_NAME, record)
        target = store.folder(record["id"])
        try:
            staging.rename(target)
            return record
        except OSError:
            if not target.exists():
                raise
        fresh = uuid.uuid4().hex
        config = dict(record["config"])
        if isinstance(config.get("calibrator_dir"), str):
            config["calibrator_dir"] = config["calibrator_dir"].replace(f"/{record['id']}/", f"/{fresh}/", 1)
        record = {**record, "id": fresh, "config": config}
    raise OSError("no free recipe id found")


def _new_identity(store: PrepassRecipeStore, meta: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """The archived id when it is free and valid (else a fresh one), and a name no stored recipe has."""
    wanted = meta.get("id")
    recipe_id = uuid.uuid4().hex
    if isinstance(wanted, str):
        try:
            if not store.exists(wanted):
                recipe_id = wanted
        except TatorError:
            pass
    name = meta["name"][:256] or recipe_id
    unique = unique_name(name, store.names())
    return {"id": recipe_id, "name": unique}, (name if unique != name else None)

"""Saved mining recipes (`uploads/agent_mining/recipes/ar_<8 hex>/`): `recipe.json` + `clip_head/head.npz`.

A saved recipe records its dataset (id, signature, labelmap and its hash) and target class, and carries its own
copy of the classifier head (the safe `.npz` format of `tator.clip.head`), so it keeps working when the
classifiers folder changes and travels in its zip. A head path outside the classifiers folder is refused.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tator.agent_mining.recipe import MiningRecipe
from tator.agent_mining.recipe_records import RecordStore, now_iso
from tator.bundles.manifest import first_problem
from tator.clip.head import load_head
from tator.clip.library import resolve_classifier
from tator.datasets.catalog import find_dataset
from tator.datasets.labels import normalise_label, read_labelmap
from tator.errors import (
    AgentRecipeClassMissing,
    AgentRecipeEmpty,
    AgentRecipeInvalidSchema,
    AgentRecipeLabelmapMissing,
    AgentRecipeNotFound,
    AgentRecipePathInvalid,
    ClassifierLoadFailed,
)
from tator.storage.files import atomic_copy, file_sha256
from tator.storage.layout import Layout

log = logging.getLogger(__name__)

RECIPE_NAME = "recipe.json"
HEAD_FILE = "clip_head/head.npz"


def recipe_store(layout: Layout) -> RecordStore:
    root = layout.guard.child("agent_mining") / "recipes"
    root.mkdir(parents=True, exist_ok=True)
    return RecordStore(root, prefix="ar_", record_name=RECIPE_NAME, not_found=AgentRecipeNotFound,
                       invalid=AgentRecipePathInvalid)  # fmt: skip


def parse_recipe(value: object) -> MiningRecipe:
    """A recipe from client JSON: 400 agent_recipe_empty for nothing to run, agent_recipe_invalid_schema else."""
    if not value or (isinstance(value, dict) and not value.get("steps")):
        raise AgentRecipeEmpty("the recipe has no steps")
    try:
        return MiningRecipe.model_validate(value)
    except ValidationError as exc:
        where, problem = first_problem(exc)
        raise AgentRecipeInvalidSchema(
            f"recipe does not match the schema at {where or 'top'}: {problem}", field=where
        ) from exc


def labelmap_hash(labelmap: list[str]) -> str:
    return hashlib.sha256("\n".join(labelmap).encode("utf-8")).hexdigest()


def _target_class(labelmap: list[str], class_id: int | None, class_name: str | None) -> tuple[int, str]:
    if class_id is not None:
        if not 0 <= class_id < len(labelmap):
            raise AgentRecipeClassMissing(f"class {class_id} is not in the dataset's labelmap", class_id=class_id)
        return class_id, labelmap[class_id]
    wanted = normalise_label(class_name or "")
    for index, name in enumerate(labelmap):
        if normalise_label(name) == wanted:
            return index, name
    raise AgentRecipeClassMissing(f"class {str(class_name)[:100]!r} is not in the dataset's labelmap")


@dataclass(frozen=True)
class NewRecipe:
    dataset_id: str
    label: str
    recipe: object
    class_id: int | None = None
    class_name: str | None = None


def save_recipe(layout: Layout, new: NewRecipe) -> dict[str, Any]:
    """Validate and store a mining recipe, copying its head (if any) in; returns the stored record."""
    recipe = parse_recipe(new.recipe)
    dataset = find_dataset(layout, new.dataset_id)
    labelmap_path = dataset.path / "labelmap.txt"
    labelmap = read_labelmap(labelmap_path) if labelmap_path.is_file() else []
    if not labelmap:
        raise AgentRecipeLabelmapMissing(f"dataset {new.dataset_id!r} has no labelmap", dataset_id=new.dataset_id)
    class_id, class_name = _target_class(
        labelmap, new.class_id if new.class_id is not None else recipe.class_id, new.class_name or recipe.class_name
    )
    head = None
    if recipe.clip_head is not None and recipe.clip_head.classifier_path:
        head = resolve_classifier(layout.root("classifiers"), recipe.clip_head.classifier_path, what="classifier_path")
        load_head(head)  # refuse a head that does not load before storing anything
    store = recipe_store(layout)
    stamp = now_iso()
    record: dict[str, Any] = {
        "id": store.new_id(), "label": new.label, "dataset_id": dataset.id,
        "dataset_signature": dataset.meta.get("signature"), "class_id": class_id, "class_name": class_name,
        "labelmap": labelmap, "labelmap_hash": labelmap_hash(labelmap),
        "recipe": recipe.model_copy(update={"class_id": class_id, "class_name": class_name}).model_dump(mode="json"),
        "clip_head": None, "created_at": stamp, "updated_at": stamp,
    }  # fmt: skip
    staging = store.staging()
    staging.mkdir()
    try:
        if head is not None:
            (staging / "clip_head").mkdir()
            atomic_copy(head, staging / HEAD_FILE)
            record["clip_head"] = head_info(staging / HEAD_FILE, source=head.name)
        store.install(staging, record)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("agent_recipe.saved id=%s class=%r head=%s", record["id"], class_name[:80], head is not None)
    return record


def head_info(path: Path, *, source: str | None) -> dict[str, Any]:
    """What a stored recipe says about its embedded head (the head itself was checked by `load_head`)."""
    head = load_head(path)
    return {"file": HEAD_FILE, "sha256": file_sha256(path), "classes": list(head.classes), "source": source}


@dataclass(frozen=True)
class StoredRecipe:
    """A saved recipe ready to apply: the recipe and the path of its embedded head (None without one)."""

    id: str
    recipe: MiningRecipe
    head_path: Path | None
    record: dict[str, Any]


def load_recipe(layout: Layout, recipe_id: str) -> StoredRecipe:
    """A saved recipe by id (404 agent_recipe_not_found), its head path checked to be a head file."""
    store = recipe_store(layout)
    record = store.get(recipe_id)
    recipe = parse_recipe(record.get("recipe"))
    head_path: Path | None = store.existing(recipe_id) / HEAD_FILE
    try:
        if head_path is not None and head_path.is_file():
            load_head(head_path)
        else:
            head_path = None
    except ClassifierLoadFailed:
        log.warning("agent_recipe.head_unreadable id=%s", recipe_id)
        head_path = None
    return StoredRecipe(recipe_id, recipe, head_path, record)


def list_recipes(layout: Layout, dataset_id: str | None = None) -> list[dict[str, Any]]:
    """Saved recipes, newest first, optionally only those of one dataset."""
    records = recipe_store(layout).list()
    return [r for r in records if dataset_id is None or r.get("dataset_id") == dataset_id]

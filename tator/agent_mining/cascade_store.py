"""Saved cascades (`uploads/agent_mining/cascades/ac_<8 hex>/cascade.json`): a label, ordered steps, dedupe.

Steps name stored recipes by id or carry one inline (`tator.agent_mining.recipe.Cascade`); every id a cascade
names (steps and the rescoring head's recipe) must be a stored recipe when it is saved.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tator.agent_mining.recipe import Cascade
from tator.agent_mining.recipe_records import RecordStore, now_iso
from tator.agent_mining.recipe_store import recipe_store
from tator.bundles.manifest import first_problem
from tator.errors import (
    AgentCascadeInvalidSchema,
    AgentCascadeNotFound,
    AgentCascadePathInvalid,
    AgentCascadeRecipeMissing,
    AgentRecipeNotFound,
    AgentRecipePathInvalid,
)
from tator.storage.layout import Layout

log = logging.getLogger(__name__)

CASCADE_NAME = "cascade.json"


def cascade_store(layout: Layout) -> RecordStore:
    root: Path = layout.guard.child("agent_mining") / "cascades"
    root.mkdir(parents=True, exist_ok=True)
    return RecordStore(root, prefix="ac_", record_name=CASCADE_NAME, not_found=AgentCascadeNotFound,
                       invalid=AgentCascadePathInvalid)  # fmt: skip


def parse_cascade(value: object) -> Cascade:
    """A cascade from client JSON; 400 agent_cascade_invalid_schema naming the first bad field."""
    try:
        return Cascade.model_validate(value)
    except ValidationError as exc:
        where, problem = first_problem(exc)
        raise AgentCascadeInvalidSchema(
            f"cascade does not match the schema at {where or 'top'}: {problem}", field=where
        ) from exc


def check_references(layout: Layout, cascade: Cascade) -> None:
    """Every recipe id the cascade names is a stored recipe (400 agent_cascade_recipe_missing else)."""
    store = recipe_store(layout)
    for recipe_id in cascade.recipe_ids():
        try:
            store.existing(recipe_id)
        except (AgentRecipeNotFound, AgentRecipePathInvalid) as exc:
            raise AgentCascadeRecipeMissing(
                f"recipe {recipe_id[:64]!r} is not stored", recipe_id=recipe_id[:64]
            ) from exc


def cascade_record(record_id: str, label: str, cascade: Cascade, created_at: str | None = None) -> dict[str, Any]:
    stamp = now_iso()
    return {"id": record_id, "label": label, **cascade.model_dump(mode="json"),
            "created_at": created_at or stamp, "updated_at": stamp}  # fmt: skip


def save_cascade(layout: Layout, label: str, value: object) -> dict[str, Any]:
    """Validate and store a cascade (`{steps, dedupe}`); returns the stored record."""
    cascade = parse_cascade(value)
    check_references(layout, cascade)
    store = cascade_store(layout)
    record = store.create(cascade_record(store.new_id(), label, cascade))
    log.info("agent_cascade.saved id=%s steps=%d", record["id"], len(cascade.steps))
    return record


def load_cascade(layout: Layout, cascade_id: str) -> Cascade:
    """A saved cascade by id (404 agent_cascade_not_found)."""
    record = cascade_store(layout).get(cascade_id)
    return parse_cascade({"steps": record.get("steps"), "dedupe": record.get("dedupe")})

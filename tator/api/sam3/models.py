"""The SAM3 model registry: `/sam3/models*` (list, activate) and `/sam3/storage/runs*` (list, delete, promote)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.errors import (
    InvalidId,
    InvalidScope,
    PathOutsideDataDir,
    RunBusy,
    Sam3CheckpointNotFound,
    Sam3CheckpointPathInvalid,
    Sam3RunActive,
    Sam3RunNotFound,
)
from tator.sam3 import models, runs
from tator.state import AppState
from tator.storage.paths import PathGuard

router = IndexedRouter(prefix="/sam3", tags=["sam3"])

PromotedOnly = Annotated[bool, Query(description="List only promoted runs (the base entry is always listed).")]
Variant = Annotated[str, Query(description="Model variant; only 'sam3' has entries.")]
Scope = Annotated[str, Query(description="What to delete: all, checkpoints, logs, tensorboard or dumps.")]


class Sam3ActivateRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    checkpoint_path: str | None = Field(
        default=None, description="Checkpoint directory (save_pretrained) inside the data directory; null = base."
    )
    label: str | None = Field(default=None, description="Display name of the checkpoint.")
    enable_segmentation: bool = Field(default=True, description="Answer masks (kept for compatibility).")


def _active_path(state: AppState) -> str | None:
    checkpoint = models.active_info(state.selections, state.base_models())["checkpoint"]
    return str(checkpoint) if checkpoint is not None else None


def _runs_guard(state: AppState) -> PathGuard:
    return state.layout.guard_for("sam3_runs")


@router.get("/models")
def sam3_models(state: StateDep, promoted_only: PromotedOnly = False) -> list[dict[str, Any]]:
    """SAM3 models: the base model, the active checkpoint and every fine-tuned run."""
    return models.list_models(
        state.selections, state.base_models(), state.layout.root("sam3_runs"), promoted_only=promoted_only
    )


@router.get("/models/available")
def sam3_models_available(
    state: StateDep, variant: Variant = "sam3", promoted_only: PromotedOnly = False
) -> list[dict[str, Any]]:
    """SAM3 models the client can activate (`variant` other than sam3 lists nothing)."""
    return sam3_models(state, promoted_only) if variant == "sam3" else []


@router.post(
    "/models/activate",
    responses=responses(Sam3CheckpointNotFound, Sam3CheckpointPathInvalid, PathOutsideDataDir),
)
def sam3_activate(body: Sam3ActivateRequest, state: StateDep) -> dict[str, Any]:
    """Make a checkpoint (or the base model, with a null path) the active SAM3 model; persisted."""
    active = models.activate(
        state.selections, state.layout.guard, state.base_models(), checkpoint_path=body.checkpoint_path,
        label=body.label, enable_segmentation=body.enable_segmentation,
    )  # fmt: skip
    return {"active": active}


@router.get("/storage/runs")
def sam3_storage_runs(state: StateDep, variant: Variant = "sam3") -> list[dict[str, Any]]:
    """Fine-tuned SAM3 runs with their size, checkpoint, promoted and active flags."""
    return runs.list_runs(_runs_guard(state), _active_path(state)) if variant == "sam3" else []


@router.delete(
    "/storage/runs/{run_id}", responses=responses(InvalidScope, InvalidId, Sam3RunNotFound, Sam3RunActive, RunBusy)
)
def sam3_delete_run(run_id: str, state: StateDep, scope: Scope = "all") -> dict[str, Any]:
    """Delete a run, or only its checkpoints, logs, tensorboard or dumps (the active run, or one still
    training: 409)."""
    return runs.delete_run(
        _runs_guard(state), run_id, scope=scope, active_path=_active_path(state), training=state.jobs.is_active(run_id)
    )


@router.post("/storage/runs/{run_id}/promote", responses=responses(InvalidId, Sam3RunNotFound))
def sam3_promote_run(run_id: str, state: StateDep) -> dict[str, Any]:
    """Mark a run as promoted."""
    return runs.promote_run(_runs_guard(state), run_id, _active_path(state))

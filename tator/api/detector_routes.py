"""Builds the registry/runs/predict routes of a detector family (YOLO and RF-DETR share the shape)."""

# No `from __future__ import annotations` here: the routes below are defined inside a function, and
# FastAPI must see their Annotated dependency types as objects, not as strings it cannot resolve.

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict
from starlette.background import BackgroundTask

from tator.api.deps import StateDep
from tator.runtime.active_runs import ActiveRuns, RunFamily
from tator.state import AppState
from tator.storage.runs import RunStore


class ActivateRunRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    run_id: str


def runs_dependency(family: RunFamily, root_name: str) -> Callable[[AppState], ActiveRuns]:
    def get_runs(state: StateDep) -> ActiveRuns:
        store = RunStore(state.layout.root(root_name), family.errors.not_found)
        return ActiveRuns(family, store, state.selections, state.registry, is_busy=state.jobs.is_active)

    return get_runs


def add_run_routes(router: APIRouter, runs_dep: Any, variants: Callable[[str | None], list[dict[str, str]]]) -> None:
    """variants, runs (list/summary/download/delete) and active (get/set) for one family."""
    RunsDep = Annotated[ActiveRuns, Depends(runs_dep)]  # noqa: N806 - a type alias

    @router.get("/variants")
    def list_variants(task: str | None = None) -> list[dict[str, str]]:
        """Model variants this family can train."""
        return variants(task)

    @router.get("/runs")
    def list_runs(runs: RunsDep) -> list[dict[str, Any]]:
        """Trained runs, newest first, with artifact flags and which one is active."""
        return runs.list_runs()

    @router.get("/runs/{run_id}/summary")
    def run_summary(run_id: str, runs: RunsDep) -> dict[str, Any]:
        """Name, dataset, task, variant, labelmap and metrics of one run."""
        return runs.summary(run_id)

    @router.get("/runs/{run_id}/download")
    def download_run(run_id: str, runs: RunsDep) -> FileResponse:
        """A zip of the run's kept files (412 `run_weights_incomplete` when its weights were cut short)."""
        archive = runs.download_archive(run_id)
        return FileResponse(
            archive,
            media_type="application/zip",
            filename=f"{runs.family.family}_{run_id}.zip",
            background=BackgroundTask(Path(archive).unlink, missing_ok=True),
        )

    @router.delete("/runs/{run_id}")
    def delete_run(run_id: str, runs: RunsDep) -> dict[str, str]:
        """Delete a run; deleting the active run clears the selection and unloads it."""
        return runs.delete(run_id)

    @router.get("/active")
    def get_active(runs: RunsDep) -> dict[str, Any]:
        """The active run, or {} when none (or its weights vanished)."""
        return runs.active()

    @router.post("/active")
    def set_active(body: ActivateRunRequest, runs: RunsDep) -> dict[str, Any]:
        """Activate a run; the model loads on the next predict."""
        return runs.activate(body.run_id)

"""Builds the runs and predict routes of a detector family (YOLO and RF-DETR share the shape)."""

# No `from __future__ import annotations` here: the routes below are defined inside a function, and
# FastAPI must see their Annotated dependency types as objects, not as strings it cannot resolve.

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask

from tator.api.deps import StateDep, get_state
from tator.api.errors import responses
from tator.api.fast_json import ModelJSONResponse
from tator.detectors.predict import DetectorPredictResponse, DetectorRun, full_mode, predict
from tator.errors import TooManyWindows
from tator.runtime.active_runs import ActiveRuns, RunFamily
from tator.runtime.images import ImageCache
from tator.runtime.registry import ModelRegistry
from tator.state import AppState
from tator.storage.runs import RunStore


class ActivateRunRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    run_id: str = Field(description="The run to activate (as listed by GET /<family>/runs).")


def runs_dependency(family: RunFamily, root_name: str) -> Callable[[AppState], Awaitable[ActiveRuns]]:
    """The family's runs, one object per app (it caches the active run's check), awaited on the event
    loop: after the first request nothing here touches the disk, so no thread hop is needed."""

    def build(state: AppState) -> ActiveRuns:
        store = RunStore(state.layout.root(root_name), family.errors.not_found)
        return ActiveRuns(family, store, state.selections, state.registry, is_busy=state.jobs.is_active)

    async def get_runs(state: StateDep) -> ActiveRuns:
        return state.shared(f"runs:{root_name}", lambda: build(state))

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


# (body, registry, the family's runs, warnings) -> the family's model call for this request.
ModelRun = Callable[[Any, ModelRegistry, ActiveRuns, list[str]], DetectorRun]


@dataclass(frozen=True)
class PredictServices:
    """What a predict route reads from the app, as one dependency: FastAPI solves each dependency of a
    request in turn, and four of them (images, registry, runs, settings) cost a predict 0.1-0.3 ms."""

    images: ImageCache
    registry: ModelRegistry
    runs: ActiveRuns
    max_windows: int


def predict_services(runs_dep: Callable[[AppState], Awaitable[ActiveRuns]]) -> Callable[..., Awaitable[Any]]:
    async def get_services(request: Request) -> PredictServices:
        state = await get_state(request)  # called, not declared: one dependency for FastAPI to solve
        runs = await runs_dep(state)

        def build() -> PredictServices:
            return PredictServices(state.images, state.registry, runs, state.settings.max_windows_per_request)

        return state.shared(f"predict:{runs.store.root.name}", build)

    return get_services


def add_predict_routes(
    router: APIRouter, runs_dep: Any, label: str, bodies: tuple[Any, Any, Any], model_run: ModelRun, errors: Any
) -> None:
    """predict_full / predict_region / predict_windowed for one family; `bodies` are their request types."""
    ServicesDep = Annotated[PredictServices, Depends(predict_services(runs_dep))]  # noqa: N806 - a type alias
    FullBody, RegionBody, WindowedBody = bodies  # noqa: N806 - request types

    def answer(body: Any, services: PredictServices, *, full: bool = False, windowed: bool = False) -> Any:
        """The shared flow; region and windowed bodies say their own mode (`body.mode()`)."""
        warnings: list[str] = []
        mode = full_mode() if full else body.mode()
        run = model_run(body, services.registry, services.runs, warnings)
        bound = {"max_windows": services.max_windows} if windowed else {}
        return ModelJSONResponse(predict(services.images, body, mode, body.knobs(), run, warnings, **bound))

    @router.post(
        "/predict_full",
        response_model=DetectorPredictResponse,
        responses=errors,
        description=f"Detect on the whole image with the active {label} run; boxes are pixel [x, y, w, h].",
    )
    def predict_full(body: FullBody, services: ServicesDep) -> Any:  # type: ignore[valid-type]
        return answer(body, services, full=True)

    @router.post("/predict_region", response_model=DetectorPredictResponse, responses=errors)
    def predict_region(body: RegionBody, services: ServicesDep) -> Any:  # type: ignore[valid-type]
        """Detect inside a region of the image (or on its pre-cropped pixels); boxes in full-image pixels."""
        return answer(body, services)

    @router.post(
        "/predict_windowed", response_model=DetectorPredictResponse, responses=errors | responses(TooManyWindows)
    )
    def predict_windowed(body: WindowedBody, services: ServicesDep) -> Any:  # type: ignore[valid-type]
        """Sliced inference: overlapping windows in batched passes, merged with class-wise NMS (at most
        TATOR_MAX_WINDOWS_PER_REQUEST windows, else 422 too_many_windows before any model work)."""
        return answer(body, services, windowed=True)

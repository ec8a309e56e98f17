"""Trained runs of one detector family and which of them is active, the same way for every family.

The active run is a persisted selection (slot = family); the model itself loads lazily through the
registry on the next predict. Deleting a run clears the selection (when active) and unloads its model.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from tator.errors import RunBusy, TatorError
from tator.jobs.context import JobFunction
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.storage.runs import RunStore


@dataclass(frozen=True)
class RunErrors:
    not_found: type[TatorError]
    best_missing: type[TatorError]
    active_missing: type[TatorError]
    active_missing_weights: type[TatorError]


@dataclass(frozen=True)
class RunFamily:
    family: str  # registry family and selection slot: "yolo" | "rfdetr"
    weights: tuple[str, ...]  # candidate weight files, best first
    kept_files: tuple[str, ...]  # what a run download contains
    errors: RunErrors


class ActiveRuns:
    def __init__(
        self,
        family: RunFamily,
        store: RunStore,
        selections: ModelSelections,
        registry: ModelRegistry,
        *,
        is_busy: Callable[[str], bool] = lambda _run_id: False,
    ) -> None:
        self.family = family
        self.store = store
        self._selections = selections
        self._registry = registry
        self._is_busy = is_busy  # a job (training, graft) still writing into the run

    def best_weights(self, run_id: str) -> Path | None:
        path = self.store.existing(run_id)
        for name in self.family.weights:
            candidate = path / name
            if candidate.is_file() and self.store.guard.contains(candidate):
                return candidate
        return None

    def activate(self, run_id: str) -> dict[str, Any]:
        """Make a run the active model (it loads on next use); 412 when it has no weights."""
        record = self.store.read(run_id)
        weights = self.best_weights(run_id)
        if weights is None:
            raise self.family.errors.best_missing(f"run {run_id} has no trained weights", run_id=run_id)
        now = time.time()
        meta = {
            "run_id": run_id,
            "run_name": record.get("run_name") or run_id,
            "best_path": str(weights),
            "labelmap": list(record.get("labelmap") or []),
            "task": record.get("task") or "detect",
            "variant": record.get("variant"),
            "created_at": now,
            "updated_at": now,
        }
        if record.get("head_graft"):
            meta["head_graft"] = record["head_graft"]
        self._selections.select(self.family.family, ModelSpec(self.family.family, str(weights)), **meta)
        return meta

    def active(self) -> dict[str, Any]:
        """The active run's metadata, or {} when none is set or its weights vanished."""
        selection = self._selections.get(self.family.family)
        if selection is None:
            return {}
        weights = Path(selection.spec.source)
        if not weights.is_file() or not self.store.guard.contains(weights):
            return {}
        return dict(selection.meta)

    def active_spec(self) -> tuple[ModelSpec, dict[str, Any]]:
        """What predict should load; 412 when nothing is active or the weights are gone."""
        selection = self._selections.get(self.family.family)
        if selection is None:
            raise self.family.errors.active_missing(f"no active {self.family.family} model; activate a run first")
        weights = Path(selection.spec.source)
        if not weights.is_file() or not self.store.guard.contains(weights):
            raise self.family.errors.active_missing_weights(
                f"the active {self.family.family} run's weights are missing", run_id=selection.meta.get("run_id")
            )
        return selection.spec, dict(selection.meta)

    def list_runs(self) -> list[dict[str, Any]]:
        active_id = self.active().get("run_id")
        runs = []
        for record in self.store.list():
            path = self.store.path(record["run_id"])
            artifacts = {name: (path / name).is_file() for name in self.family.kept_files}
            status = record.get("status") or "unknown"
            if status in ("queued", "running", "cancelling") and not self._is_busy(record["run_id"]):
                status = "interrupted"  # the server stopped while its job ran; the job says the same
            if status == "unknown" and any((path / name).is_file() for name in self.family.weights):
                status = "succeeded"
            runs.append(
                {**record, "status": status, "artifacts": artifacts, "is_active": record["run_id"] == active_id}
            )
        return runs

    def submit(
        self, jobs: JobManager, kind: str, fn: JobFunction, plan: BaseModel, *, device: str | None = None
    ) -> JobRecord:
        """Queue a heavy job whose id is also its run id and whose run dir is the run's directory;
        `device` pins it (None: a free GPU, else the CPU pool)."""
        job_id = uuid.uuid4().hex
        return jobs.submit(
            kind, fn, plan, resource="gpu", device=device, run_dir=self.store.path(job_id), job_id=job_id
        )

    def track(
        self,
        run_id: str,
        record: Callable[..., dict[str, Any]],
        work: Callable[[], dict[str, Any]],
        *,
        cancelled: Callable[[], bool],
        auto_activate: bool,
    ) -> dict[str, Any]:
        """Run a training job's `work` with its run.json kept current (running, then succeeded, failed or
        cancelled) and, on success, activate the run when asked. `record(status, **fields)` builds run.json."""
        started = time.time()
        self.store.write(run_id, record("running", created_at=started))
        try:
            result = work()
        except BaseException as exc:
            status = "cancelled" if cancelled() else "failed"
            self.store.write(run_id, record(status, created_at=started, error=str(exc)[:500]))
            raise
        self.store.write(run_id, record("succeeded", created_at=started, **result))
        if auto_activate:
            self.activate(run_id)
            result["activated"] = True
        return result

    def summary(self, run_id: str) -> dict[str, Any]:
        record = self.store.read(run_id)
        keys = ("run_id", "run_name", "dataset_label", "dataset_id", "task", "variant", "labelmap", "metrics")
        return {key: record.get(key) for key in keys} | {"run_id": run_id}

    def delete(self, run_id: str) -> dict[str, str]:
        """Delete a run: clear the selection if it was active and drop every loaded model of its weights
        (active or not: a run activated earlier may still be resident). A run whose job is still queued
        or running is refused (cancel the job first)."""
        run_dir = self.store.existing(run_id).resolve()
        if self._is_busy(run_id):
            raise RunBusy(f"run {run_id} is still being written by its job; cancel the job first", run_id=run_id)
        selection = self._selections.get(self.family.family)
        if selection is not None and selection.meta.get("run_id") == run_id:
            self._selections.clear(self.family.family)
        self._registry.unload_where(
            lambda spec: spec.family == self.family.family and run_dir in Path(spec.source).resolve().parents
        )
        self.store.delete(run_id)
        return {"status": "deleted", "run_id": run_id}


def training_run_record(
    run_id: str,
    status: str,
    *,
    request: BaseModel,
    dataset_id: str,
    dataset_label: str,
    labelmap: list[str],
    variant: str | None,
    extra: Mapping[str, Any] = MappingProxyType({}),
) -> dict[str, Any]:
    """run.json of a training run, the same fields for every family (the reference's `run.json`);
    `extra` (results, errors, `created_at` of the first write) is merged over them."""
    now = time.time()
    record: dict[str, Any] = {
        "run_id": run_id,
        "run_name": getattr(request, "run_name", None) or run_id,
        "status": status,
        "dataset_id": dataset_id,
        "dataset_label": dataset_label,
        "task": getattr(request, "task", "detect"),
        "variant": variant,
        "labelmap": labelmap,
        "config": request.model_dump(mode="json"),
        "created_at": now,
    }
    record.update(extra)
    record["updated_at"] = now
    return record

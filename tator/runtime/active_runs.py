"""Trained runs of one detector family and which of them is active, the same way for every family.

The active run is a persisted selection (slot = family); the model itself loads lazily through the
registry on the next predict. Deleting the active run clears the selection and unloads the model.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from tator.errors import RunBusy, TatorError
from tator.jobs.kinds import JobKind
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.storage.files import atomic_write_json
from tator.storage.runs import RUN_RECORD, RunStore


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

    def submit(self, jobs: JobManager, kind: JobKind, plan: BaseModel) -> JobRecord:
        """Queue a heavy job whose id is also its run id and whose run dir is the run's directory."""
        job_id = uuid.uuid4().hex
        return jobs.submit_kind(kind, plan, run_dir=self.store.path(job_id), job_id=job_id)

    def finish(self, run_id: str, record: dict[str, Any], *, auto_activate: bool) -> dict[str, Any]:
        """The completion step of a training run (in the server): run.json says succeeded (its first
        `created_at` kept), then the run is activated when asked. Idempotent."""
        path = self.store.path(run_id)
        previous = _read_record(path)
        record = {**record, "created_at": previous.get("created_at", record.get("created_at"))}
        self.store.write(run_id, record)
        if not auto_activate:
            return {}
        self.activate(run_id)
        return {"activated": True}

    def summary(self, run_id: str) -> dict[str, Any]:
        record = self.store.read(run_id)
        keys = ("run_id", "run_name", "dataset_label", "dataset_id", "task", "variant", "labelmap", "metrics")
        return {key: record.get(key) for key in keys} | {"run_id": run_id}

    def delete(self, run_id: str) -> dict[str, str]:
        """Delete a run; if it was active, clear the selection and drop the loaded model. A run whose job
        is still queued or running is refused (cancel the job first)."""
        self.store.existing(run_id)
        if self._is_busy(run_id):
            raise RunBusy(f"run {run_id} is still being written by its job; cancel the job first", run_id=run_id)
        selection = self._selections.get(self.family.family)
        if selection is not None and selection.meta.get("run_id") == run_id:
            self._selections.clear(self.family.family)
            self._registry.unload(selection.spec.key)
        self.store.delete(run_id)
        return {"status": "deleted", "run_id": run_id}


def track_run(
    run_dir: Path,
    record: Callable[..., dict[str, Any]],
    work: Callable[[], dict[str, Any]],
    *,
    cancelled: Callable[[], bool],
) -> dict[str, Any]:
    """In a training job: keep run.json current while `work` runs (running, then failed or cancelled on
    error). Success is written by the completion step (`ActiveRuns.finish`), so a kill between the two
    leaves a run and a job that agree. `record(status, **fields)` builds run.json."""
    started = time.time()
    atomic_write_json(run_dir / RUN_RECORD, record("running", created_at=started))
    try:
        return work()
    except BaseException as exc:
        status = "cancelled" if cancelled() else "failed"
        atomic_write_json(run_dir / RUN_RECORD, record(status, created_at=started, error=str(exc)[:500]))
        raise


def _read_record(path: Path) -> dict[str, Any]:
    try:
        value = json.loads((path / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


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

"""Trained runs of one detector family and which of them is active, the same way for every family.

The active run is a persisted selection (slot = family); the model itself loads lazily through the
registry on the next predict. Deleting the active run clears the selection and unloads the model.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from tator.errors import RunBusy, RunWeightsIncomplete, TatorError
from tator.jobs.context import JobFunction
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections, Selection
from tator.storage.locks import file_lock
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

    def _lock(self, *, shared: bool = False) -> contextlib.AbstractContextManager[None]:
        """Serialises activations, deletes and downloads of this family's runs (a download shares it)."""
        root = self.store.root  # uploads/<family>_runs: the lock sits with the others, in uploads/.locks
        return file_lock(root.parent / ".locks" / f"{root.name}.lock", shared=shared)

    def best_weights(self, run_id: str, *, digest: bool = False) -> Path | None:
        """The first complete weights file (checked against run.json's size, and SHA-256 with `digest`)."""
        path, record = self.store.existing(run_id), self.store.read(run_id)
        for name in self.family.weights:
            if self.store.weights_complete(run_id, name, digest=digest, record=record):
                return path / name
        return None

    def _usable_weights(self, run_id: str) -> Path:
        weights = self.best_weights(run_id, digest=True)
        if weights is not None:
            return weights
        if any((self.store.path(run_id) / name).is_file() for name in self.family.weights):
            raise RunWeightsIncomplete(
                f"run {run_id}'s weights do not match what the run recorded (cut short by a crash?)", run_id=run_id
            )
        raise self.family.errors.best_missing(f"run {run_id} has no trained weights", run_id=run_id)

    def activate(self, run_id: str) -> dict[str, Any]:
        """Make a run the active model (it loads on next use); 412 when it has no complete weights."""
        with self._lock():
            record = self.store.read(run_id)
            weights = self._usable_weights(run_id)
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

    def download_archive(self, run_id: str) -> Path:
        """A temp zip of the run's kept files; refused (412) when its weights are not what it recorded."""
        with self._lock(shared=True):
            self._usable_weights(run_id)
            return self.store.zip_to_tempfile(run_id, self.family.kept_files)

    def _selection(self) -> tuple[Selection, bool] | None:
        """The family's selection and whether its weights are still there and complete (by size)."""
        selection = self._selections.get(self.family.family)
        if selection is None:
            return None
        weights = Path(selection.spec.source)
        run_id = str(selection.meta.get("run_id") or weights.parent.name)
        try:
            complete = weights.parent == self.store.path(run_id) and self.store.weights_complete(
                run_id, weights.name, digest=False
            )
        except TatorError:
            complete = False
        return selection, complete

    def active(self) -> dict[str, Any]:
        """The active run's metadata, or {} when none is set or its weights vanished or are incomplete."""
        found = self._selection()
        return dict(found[0].meta) if found is not None and found[1] else {}

    def active_spec(self) -> tuple[ModelSpec, dict[str, Any]]:
        """What predict should load; 412 when nothing is active or the weights are gone."""
        found = self._selection()
        if found is None:
            raise self.family.errors.active_missing(f"no active {self.family.family} model; activate a run first")
        selection, complete = found
        if not complete:
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
            for name in set(self.family.weights) & set(artifacts):  # a cut weights file is no artifact
                artifacts[name] = self.store.weights_complete(record["run_id"], name, digest=False, record=record)
            status = record.get("status") or "unknown"
            if status in ("queued", "running", "cancelling") and not self._is_busy(record["run_id"]):
                status = "interrupted"  # the server stopped while its job ran; the job says the same
            if status == "unknown" and any((path / name).is_file() for name in self.family.weights):
                status = "succeeded"
            runs.append(
                {**record, "status": status, "artifacts": artifacts, "is_active": record["run_id"] == active_id}
            )
        return runs

    def submit(self, jobs: JobManager, kind: str, fn: JobFunction, plan: BaseModel) -> JobRecord:
        """Queue a heavy job whose id is also its run id and whose run dir is the run's directory."""
        job_id = uuid.uuid4().hex
        return jobs.submit(kind, fn, plan, resource="gpu", run_dir=self.store.path(job_id), job_id=job_id)

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
        weights = self.store.weights_manifest(run_id, self.family.weights)
        self.store.write(run_id, record("succeeded", created_at=started, weights=weights, **result))
        if auto_activate:
            self.activate(run_id)
            result["activated"] = True
        return result

    def summary(self, run_id: str) -> dict[str, Any]:
        record = self.store.read(run_id)
        keys = ("run_id", "run_name", "dataset_label", "dataset_id", "task", "variant", "labelmap", "metrics")
        return {key: record.get(key) for key in keys} | {"run_id": run_id}

    def delete(self, run_id: str) -> dict[str, str]:
        """Delete a run; if it was active, clear the selection and drop the loaded model. A run whose job
        is still queued or running is refused (cancel the job first)."""
        with self._lock():
            self.store.existing(run_id)
            if self._is_busy(run_id):
                raise RunBusy(f"run {run_id} is still being written by its job; cancel the job first", run_id=run_id)
            selection = self._selections.get(self.family.family)
            if selection is not None and selection.meta.get("run_id") == run_id:
                self._selections.clear(self.family.family)
                self._registry.unload(selection.spec.key)
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

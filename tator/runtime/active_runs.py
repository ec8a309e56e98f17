"""Trained runs of one detector family and which of them is active, the same way for every family.

The active run is a persisted selection (slot = family); the model itself loads lazily through the
registry on the next predict. Deleting a run clears the selection (when active) and unloads its model.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from pydantic import BaseModel

from tator.errors import RunBusy, RunWeightsIncomplete, TatorError
from tator.jobs.context import JobContext
from tator.jobs.kinds import Completion, JobKind
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections, Selection
from tator.storage.files import atomic_write_json
from tator.storage.locks import file_lock
from tator.storage.runs import RUN_RECORD, RunStore

P = TypeVar("P", bound=BaseModel)


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


# Every listed run carries the contract's fields, null when its run.json predates them.
_RUN_DEFAULTS: dict[str, Any] = dict.fromkeys(("created_at", "updated_at", "dataset_id", "dataset_label"))


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
        self._verdict: _Verdict | None = None  # see _selection
        self._verdict_lock = threading.Lock()

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
            labelmap_path = self.store.path(run_id) / "labelmap.txt"
            meta = {
                "run_id": run_id,
                "run_name": record.get("run_name") or run_id,
                "best_path": str(weights),
                "labelmap_path": str(labelmap_path) if labelmap_path.is_file() else None,
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
        """The family's selection and whether its weights are still there and complete (by size).

        Every predict asks, so the verdict is kept while the selection is the same and neither the weights
        file nor run.json changes (same inode, size and mtime, read with one stat each): 0.9 ms of path
        checks per predict saved."""
        selection = self._selections.get(self.family.family)
        if selection is None:
            return None
        with self._verdict_lock:
            verdict = self._verdict
        if verdict is None or verdict.selection is not selection:
            weights = Path(selection.spec.source)
            run_id = str(selection.meta.get("run_id") or weights.parent.name)
            verdict = _Verdict(selection, weights, run_id, str(weights.parent / RUN_RECORD))
        identity = (_identity(verdict.weights), _identity(verdict.record))
        if verdict.identity == identity:
            return selection, verdict.complete
        try:
            complete = verdict.weights.parent == self.store.path(verdict.run_id) and self.store.weights_complete(
                verdict.run_id, verdict.weights.name, digest=False
            )
        except TatorError:
            complete = False
        with self._verdict_lock:
            self._verdict = replace(verdict, identity=identity, complete=complete)
        return selection, complete

    def active(self) -> dict[str, Any]:
        """The active run's metadata, or {} when none is set or its weights vanished or are incomplete."""
        found = self._selection()
        return dict(found[0].meta) if found is not None and found[1] else {}

    def active_spec(self) -> tuple[ModelSpec, dict[str, Any]]:
        """What predict should load; 412 when nothing is active or the weights are gone."""
        family = self.family.family
        found = self._selection()
        if found is None:
            raise self.family.errors.active_missing(
                f"no active {family} model: pick a run from GET /{family}/runs and activate it with "
                f'POST /{family}/active {{"run_id": "<run_id>"}}, or train one with POST /{family}/train/jobs'
            )
        selection, complete = found
        if not complete:
            raise self.family.errors.active_missing_weights(
                f"the active {family} run's weights are missing: activate another run (GET /{family}/runs, "
                f"POST /{family}/active) or train a new one",
                run_id=selection.meta.get("run_id"),
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
            row = {**_RUN_DEFAULTS, "message": record.get("error"), **record}
            row.update(run_name=record.get("run_name") or record["run_id"], status=status, artifacts=artifacts)
            runs.append(row | {"is_active": record["run_id"] == active_id})
        return runs

    def submit(self, jobs: JobManager, kind: JobKind, plan: BaseModel, *, device: str | None = None) -> JobRecord:
        """Queue a heavy job whose id is also its run id and whose run dir is the run's directory;
        `device` pins it (None: a free GPU, else the CPU pool)."""
        job_id = uuid.uuid4().hex
        return jobs.submit_kind(kind, plan, device=device, run_dir=self.store.path(job_id), job_id=job_id)

    def finish(self, run_id: str, record: dict[str, Any], *, auto_activate: bool) -> dict[str, Any]:
        """The completion step of a training run (in the server): run.json says succeeded (its first
        `created_at` kept), then the run is activated when asked. Idempotent."""
        path = self.store.path(run_id)
        previous = _read_record(path)
        weights = self.store.weights_manifest(run_id, self.family.weights)  # size + digest, checked on use
        record = {**record, "created_at": previous.get("created_at", record.get("created_at")), "weights": weights}
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
        """Delete a run: clear the selection if it was active and drop every loaded model of its weights
        (active or not: a run activated earlier may still be resident). A run whose job is still queued
        or running is refused (cancel the job first). Serialised with activations and downloads."""
        with self._lock():
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


RunRecord = Callable[..., dict[str, Any]]  # (plan, job_id, status, **fields) -> run.json


def run_training(
    plan: P, ctx: JobContext, record: RunRecord, work: Callable[[P, JobContext], dict[str, Any]]
) -> dict[str, Any]:
    """A training job's body for any family: `work(plan, ctx)` under `track_run` (run.json kept current;
    success is the completion step's to record)."""
    return track_run(
        ctx.run_dir, partial(record, plan, ctx.job_id), partial(work, plan, ctx), cancelled=lambda: ctx.cancel.cancelled
    )


def training_completion(plan_type: type[BaseModel], record: RunRecord) -> Callable[[ActiveRuns], Completion]:
    """The completion step (in the server) of a family's training job: run.json says succeeded, then the
    run is activated when the request asked for it."""

    def for_runs(runs: ActiveRuns) -> Completion:
        def complete(job: JobRecord) -> dict[str, Any]:
            plan = plan_type.model_validate(job.params)
            fields = record(plan, job.job_id, "succeeded", **(job.result or {}))
            return runs.finish(job.job_id, fields, auto_activate=plan.request.auto_activate)  # type: ignore[attr-defined]

        return complete

    return for_runs


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


@dataclass(frozen=True)
class _Verdict:
    """Whether a selection's weights were complete when its files had `identity` (None: not checked yet)."""

    selection: Selection
    weights: Path
    run_id: str
    record: str  # run.json beside the weights
    identity: tuple[object, ...] | None = None
    complete: bool = False


def _identity(path: Path | str) -> tuple[int, int, int, int] | None:
    """What changes when a file is replaced, cut or rewritten: device, inode, size, mtime (ns)."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns

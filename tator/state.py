"""AppState: the one long-lived mutable container, built by the app's lifespan and torn down with it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

from tator.job_kinds import build_job_kinds
from tator.jobs.executor import Executor, ThreadExecutor
from tator.jobs.manager import JobManager
from tator.jobs.slots import DeviceSlots
from tator.jobs.store import JobStore
from tator.runtime.device import resolve_device
from tator.runtime.gpu_report import visible_cuda_devices
from tator.runtime.images import ImageCache, ImageLimits
from tator.runtime.loaders import Loader
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.sam3.embeddings import EmbeddingCache
from tator.sam3.interactive import SamRuntime
from tator.sam3.slots import PredictorSlots
from tator.settings import Settings
from tator.storage.db import Database, SelectionStore
from tator.storage.layout import Layout

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: Settings
    db: Database
    layout: Layout
    selections: ModelSelections
    jobs: JobManager
    registry: ModelRegistry
    images: ImageCache
    sam: SamRuntime
    _base_models: dict[str, str] | None = None
    _base_lock: threading.Lock = field(default_factory=threading.Lock)

    def base_models(self) -> dict[str, str]:
        """Family -> base model source (hub ids, or the tiny zoo's local paths, built on first use)."""
        with self._base_lock:
            if self._base_models is None:
                from tator.zoo.catalog import base_model_sources

                self._base_models = base_model_sources(self.settings.model_zoo, self.layout.root("zoo"))
            return dict(self._base_models)

    def close(self) -> None:
        self.jobs.shutdown(timeout=10.0)
        self.registry.unload_all()
        self.images.clear()
        self.sam.clear()
        self.db.close()


def build_state(settings: Settings, loaders: Mapping[str, Loader]) -> AppState:
    """Open the store, mark interrupted jobs, and wire the registry and job manager. Imports no torch
    unless a CUDA device is explicitly requested (then it is checked at once)."""
    executor = _executor(settings, loaders)  # first: a Ray cluster that cannot be used stops start-up here
    layout = Layout(settings.uploads_dir, settings.logs_dir)
    db = Database(settings.database_path)
    slots = DeviceSlots(
        jobs_per_gpu=settings.jobs_per_gpu,
        cpu_workers=settings.cpu_job_workers if settings.executor == "thread" else settings.ray_max_jobs,
        gpu_devices=_job_gpu_devices(settings.device) if settings.executor == "thread" else [],
    )
    registry = ModelRegistry(
        loaders,
        device=partial(resolve_device, settings.device),
        max_loaded=settings.max_loaded_models,
        memory_budget_bytes=settings.model_memory_budget_mb * 2**20,
        lock_timeout_s=settings.model_lock_timeout_s,
    )
    selections = ModelSelections(SelectionStore(db))
    jobs = JobManager(
        JobStore(db),
        executor,
        slots,
        run_root=layout.root("jobs"),
        log_lines=settings.job_log_lines,
        kinds=build_job_kinds(layout, selections, registry),
        models=registry,
        kill_at=settings.test_kill_at,
    )
    images = ImageCache(
        max_bytes=settings.image_cache_bytes,
        max_entries=settings.image_cache_entries,
        limits=ImageLimits(max_bytes=settings.image_max_bytes, max_pixels=settings.image_max_pixels),
    )
    sam = SamRuntime(
        EmbeddingCache(
            max_entries=settings.sam_embedding_cache_entries, max_bytes=settings.sam_embedding_cache_mb * 2**20
        ),
        PredictorSlots(max_predictors=settings.sam_max_predictors),
    )
    return AppState(settings, db, layout, selections, jobs, registry, images, sam)


def _executor(settings: Settings, loaders: Mapping[str, Loader]) -> Executor:
    """Threads here, or a Ray cluster (imported only then) that must see the data directory."""
    if settings.executor == "thread":
        return ThreadExecutor()
    from tator.jobs.ray_executor import RayExecutor, probe_data_dir

    executor = RayExecutor(settings.ray_address, loaders=loaders)
    try:
        settings.uploads_dir.mkdir(parents=True, exist_ok=True)
        probe_data_dir(settings.uploads_dir)
    except BaseException:
        executor.close()
        raise
    return executor


def _job_gpu_devices(device: str) -> list[str]:
    """The CUDA devices heavy jobs may be scheduled on (NVML: no torch import at start-up)."""
    if device == "cpu":
        return []
    visible = visible_cuda_devices()
    if device.startswith("cuda:"):
        return [device] if device in visible else []
    return visible

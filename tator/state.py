"""AppState: the one long-lived mutable container, built by the app's lifespan and torn down with it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar, cast

from tator.clip.uploads import STAGING_PREFIXES
from tator.job_kinds import build_job_kinds
from tator.jobs.executor import Executor, ThreadExecutor
from tator.jobs.manager import JobManager
from tator.jobs.slots import DeviceSlots
from tator.jobs.store import JobStore
from tator.qwen.models import QwenCatalog
from tator.qwen.runtime import QwenRuntime
from tator.qwen.service import QwenContext, QwenLimits
from tator.runtime.budget import PixelBudget
from tator.runtime.catalog import HUB_BASE_MODELS
from tator.runtime.device import device_budget, resolve_device
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
from tator.storage.files import sweep_stale
from tator.storage.layout import Layout

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    qwen_runtime: QwenRuntime = field(default_factory=QwenRuntime)  # live Qwen generations (progress, cancel)
    _base_models: dict[str, str] | None = None
    _base_lock: threading.Lock = field(default_factory=threading.Lock)
    _shared: dict[str, object] = field(default_factory=dict)
    # Its own lock: `shared` is called on the event loop, and `_base_lock` is held while the tiny zoo builds.
    _shared_lock: threading.Lock = field(default_factory=threading.Lock)

    def shared(self, key: str, build: Callable[[], T]) -> T:
        """One object per app for `key`, built on first use: for request dependencies whose building
        touches the disk (a run store resolves its root) and that keep caches worth sharing."""
        with self._shared_lock:
            if key not in self._shared:
                self._shared[key] = build()
            return cast(T, self._shared[key])

    def base_models(self) -> dict[str, str]:
        """Family -> base model source (hub ids, or the tiny zoo's local paths, built on first use)."""
        with self._base_lock:
            if self._base_models is None and self.settings.model_zoo == "tiny":
                from tator.zoo.tiny import tiny_base_models  # the demo/test zoo, only when asked for

                self._base_models = tiny_base_models(self.layout.root("zoo"))
            elif self._base_models is None:
                self._base_models = dict(HUB_BASE_MODELS)
            return dict(self._base_models)

    def base_models_ready(self) -> bool:
        """Whether `base_models()` answers at once (the tiny zoo may still be building)."""
        return self._base_models is not None or self.settings.model_zoo == "hub"

    def qwen(self) -> QwenContext:
        """What every Qwen operation needs: the catalog (base + fine-tunes), limits, registry and runtime."""
        s = self.settings
        base = s.qwen_base_model or self.base_models()["qwen"]
        catalog = QwenCatalog(base, tuple(s.qwen_extra_models), self.layout.root("qwen_runs"))
        limits = QwenLimits(
            default_max_new_tokens=min(s.qwen_max_new_tokens, s.qwen_max_new_tokens_limit),
            max_new_tokens_limit=s.qwen_max_new_tokens_limit, timeout_s=s.qwen_generation_timeout_s,
            min_pixels=s.qwen_min_pixels, max_pixels=s.qwen_max_pixels, max_windows=s.qwen_max_caption_windows,
        )  # fmt: skip
        return QwenContext(self.registry, self.selections, self.qwen_runtime, catalog, limits, s.device)

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
    _sweep_staging(layout)
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
        device_budget=device_budget(settings.model_memory_fraction),
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
        limits=ImageLimits(
            max_bytes=settings.image_max_bytes,
            max_pixels=settings.image_max_pixels,
            budget=PixelBudget(settings.decode_pixel_budget, wait_s=settings.decode_wait_s),
        ),
    )
    sam = SamRuntime(
        EmbeddingCache(
            max_entries=settings.sam_embedding_cache_entries, max_bytes=settings.sam_embedding_cache_mb * 2**20
        ),
        PredictorSlots(max_predictors=settings.sam_max_predictors),
    )
    _recover(layout, settings)
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


def _sweep_staging(layout: Layout) -> None:
    """Staging files of uploads a killed server was receiving (nothing is receiving yet at start-up)."""
    swept = sweep_stale(layout.root("classifiers"), STAGING_PREFIXES) + sweep_stale(
        layout.root("labelmaps"), (".incoming-",)
    )
    if swept:
        log.info("storage.staging_swept files=%d", swept)


def _recover(layout: Layout, settings: Settings) -> None:
    """Remove what a crash left half-done (staging, temp files, finished sessions) before serving."""
    from tator.datasets.recovery import recover_datasets
    from tator.storage.sweep import remove_leftovers

    recover_datasets(layout, trash_retention_s=settings.dataset_trash_retention_s)
    remove_leftovers(layout.uploads_dir)


def _job_gpu_devices(device: str) -> list[str]:
    """The CUDA devices heavy jobs may be scheduled on (NVML: no torch import at start-up)."""
    if device == "cpu":
        return []
    visible = visible_cuda_devices()
    if device.startswith("cuda:"):
        return [device] if device in visible else []
    return visible

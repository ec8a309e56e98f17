"""Qwen LoRA training routes: start, list, get, cancel, and the split cache (size, purge)."""

from __future__ import annotations

from typing import Any

from tator.api.deps import JobsDep, LayoutDep
from tator.api.errors import responses
from tator.api.qwen.deps import QwenDep
from tator.api.routing import IndexedRouter
from tator.api.training_routes import add_job_routes, job_view
from tator.errors import (
    DatasetIdRequired,
    DatasetNotFound,
    QwenCachePurgeBlocked,
    QwenDatasetEmpty,
    QwenDatasetNotReady,
    QwenJobNotFound,
    QwenModelNotFound,
    QwenTrainingModeUnsupported,
    QwenTrainingUnavailable,
)
from tator.qwen.train import KIND
from tator.qwen.train_start import QwenTrainRequest, cache_size, purge_cache, start_training

router = IndexedRouter(prefix="/qwen", tags=["qwen"])


@router.post(
    "/train/jobs",
    status_code=202,
    responses=responses(
        DatasetIdRequired, DatasetNotFound, QwenDatasetNotReady, QwenDatasetEmpty, QwenModelNotFound,
        QwenTrainingModeUnsupported, QwenTrainingUnavailable,
    ),
)  # fmt: skip
def start_train(body: QwenTrainRequest, qwen: QwenDep, layout: LayoutDep, jobs: JobsDep) -> dict[str, Any]:
    """Queue a LoRA fine-tune on a Qwen-ready dataset; the adapter is listed by /qwen/models when done."""
    return job_view(start_training(body, qwen=qwen, layout=layout, jobs=jobs))


@router.get("/train/cache_size")
def train_cache_size(layout: LayoutDep) -> dict[str, int]:
    """Bytes held by the training split cache."""
    return cache_size(layout)


@router.post("/train/cache/purge", responses=responses(QwenCachePurgeBlocked))
def train_cache_purge(layout: LayoutDep, jobs: JobsDep) -> dict[str, Any]:
    """Delete the training split cache (refused while a Qwen job is active)."""
    return purge_cache(layout, jobs)


add_job_routes(router, "/train/jobs", KIND, QwenJobNotFound)

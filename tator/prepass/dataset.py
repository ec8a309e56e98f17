"""Prepass over a whole dataset, resumable through the per-image cache.

Two plain functions make it reusable outside the prepass job (calibration calls them):
- `plan_dataset(layout, server, dataset_id, config, ...)` (in the server): checks the dataset (404 unknown,
  400 without labels or images), resolves models, labelmap and glossary into a serialisable `DatasetPlan`;
- `prepass_dataset(plan, models, ...)` (anywhere, e.g. inside a job with `LocalModels`): the per-image records,
  each read from the cache when the same image bytes were already run with the same config key, else computed
  and written to the cache atomically before the next image starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from tator.datasets.catalog import find_dataset
from tator.datasets.views import load_annotations
from tator.errors import PrepassDatasetEmpty, PrepassDatasetUnlabeled
from tator.prepass.cache import ImageRecord, file_sha256, read_record, write_record
from tator.prepass.config import PrepassConfig, canonical_hash
from tator.prepass.models import ModelAccess, PrepassModels
from tator.prepass.pipeline import run_prepass
from tator.prepass.resolve import ServerModels, resolve_models, vocabulary
from tator.runtime.images import open_image
from tator.storage.layout import Layout
from tator.storage.pause import pause_point

log = logging.getLogger(__name__)
CACHE_ROOT = "prepass_cache"


class DatasetImage(BaseModel):
    path: str = Field(description="Image path relative to the dataset root.")
    split: str = Field(description="Split of the image (train, val ...).")


class DatasetPlan(BaseModel):
    """Everything a dataset prepass needs, as plain data (a job's params)."""

    dataset_id: str = Field(description="The source dataset.")
    dataset_root: str = Field(description="Absolute folder of the source dataset.")
    images: list[DatasetImage] = Field(description="The images to run, in order.")
    labelmap: list[str] = Field(description="Class names (index = class id).")
    glossary: dict[str, list[str]] = Field(description="Terms per class name.")
    config: PrepassConfig = Field(description="The pipeline's knobs.")
    models: PrepassModels = Field(description="The models (None = source unavailable).")
    warnings: list[str] = Field(default_factory=list, description="Sources skipped when planning.")
    cache_dir: str = Field(description="Folder of this config key's cache records.")
    config_key: str = Field(description="sha256 of config, labelmap, glossary and model identity.")
    use_cache: bool = Field(default=True, description="Reuse cached records (False: recompute and overwrite).")


def plan_dataset(
    layout: Layout, server: ServerModels, dataset_id: str, config: PrepassConfig, *,
    classifier_id: str | None = None, use_cache: bool = True,
) -> DatasetPlan:  # fmt: skip
    """Check the dataset and resolve everything before anything is queued (4xx on bad input)."""
    ref = find_dataset(layout, dataset_id)
    ann = load_annotations(ref)
    if not ann.images:
        raise PrepassDatasetEmpty(f"dataset {dataset_id} has no images", dataset_id=dataset_id)
    if not ann.classes or ann.box_count == 0:
        raise PrepassDatasetUnlabeled(f"dataset {dataset_id} has no labels", dataset_id=dataset_id)
    models, warnings = resolve_models(server, config, classifier_id)
    vocab = vocabulary(layout, dataset_id=ref.id, labelmap=list(ann.classes), glossary=None)
    key = canonical_hash(config, vocab.labelmap, vocab.glossary, models.identity())
    return DatasetPlan(
        dataset_id=ref.id, dataset_root=str(ann.root.resolve()), labelmap=vocab.labelmap, glossary=vocab.glossary,
        images=[DatasetImage(path=i.path, split=i.split) for i in ann.images], config=config, models=models,
        warnings=warnings, cache_dir=str(layout.uploads_dir / CACHE_ROOT / key), config_key=key, use_cache=use_cache,
    )  # fmt: skip


def _compute(plan: DatasetPlan, models: ModelAccess, item: DatasetImage, sha: str) -> ImageRecord:
    with open_image(Path(plan.dataset_root) / item.path) as image:
        pixels = np.asarray(image.convert("RGB"), dtype=np.uint8)
    result = run_prepass(models, plan.models, pixels, plan.labelmap, plan.glossary, plan.config)
    height, width = pixels.shape[:2]
    return ImageRecord(
        image=item.path, split=item.split, image_sha256=sha, width=width, height=height,
        candidates=result.candidates, warnings=[*plan.warnings, *result.trace.warnings],
        model_seconds=round(result.trace.model_seconds, 4),
    )  # fmt: skip


def prepass_dataset(
    plan: DatasetPlan, models: ModelAccess, *, checkpoint: Callable[[], None] = lambda: None,
    progress: Callable[[int, int, int], None] = lambda done, total, cached: None,
) -> list[ImageRecord]:  # fmt: skip
    """One record per plan image, in plan order; `checkpoint()` runs before each image (it may raise to
    cancel), `progress(done, total, cached)` after each."""
    folder = Path(plan.cache_dir)
    records: list[ImageRecord] = []
    cached = 0
    for n, item in enumerate(plan.images):
        checkpoint()
        sha = file_sha256(Path(plan.dataset_root) / item.path)
        record = read_record(folder, sha) if plan.use_cache else None
        if record is not None:
            cached += 1
            record = record.model_copy(update={"image": item.path, "split": item.split})
        else:
            record = _compute(plan, models, item, sha)
            write_record(folder, record)
        records.append(record)
        pause_point(f"prepass.dataset.image_done.{n}")
        progress(n + 1, len(plan.images), cached)
    return records

"""Starting a SAM3 fine-tuning job: convert the dataset, resolve the base model, queue `train.run`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from tator.errors import Sam3TrainingNoImages
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.selections import ModelSelections
from tator.sam3.datasets import convert
from tator.sam3.models import concept_spec
from tator.sam3.train import SAM3_TRAIN, Sam3TrainPlan
from tator.storage.layout import Layout


def start_training(
    jobs: JobManager,
    layout: Layout,
    selections: ModelSelections,
    base_models: Mapping[str, str],
    *,
    dataset_id: str,
    run_name: str | None,
    options: Mapping[str, Any],
) -> JobRecord:
    """Queue a fine-tuning run of the active SAM3 model; the run directory is `sam3_runs/<job id>/`."""
    meta = convert(layout, dataset_id)
    if not meta["counts"].get("train"):
        raise Sam3TrainingNoImages(f"dataset {dataset_id} has no training images", dataset_id=dataset_id)
    job_id = uuid.uuid4().hex
    plan = Sam3TrainPlan(
        run_id=job_id, label=run_name or f"{meta['label']} sam3", dataset_id=meta["id"],
        base_source=concept_spec(selections, base_models).source, coco_train_json=meta["coco_train_json"],
        coco_val_json=meta["coco_val_json"], classes=list(meta["classes"]), **options,
    )  # fmt: skip
    run_dir = layout.root("sam3_runs") / job_id
    return jobs.submit_kind(SAM3_TRAIN, plan, run_dir=run_dir, job_id=job_id)

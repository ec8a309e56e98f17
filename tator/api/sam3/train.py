"""SAM3 datasets and fine-tuning: `/sam3/datasets*`, `/sam3/train/jobs*` and the conversion cache."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import JobsDep, LayoutDep, StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.api.training_routes import add_job_routes
from tator.errors import Sam3DatasetNotFound, Sam3DatasetTypeUnsupported, Sam3JobNotFound, Sam3TrainingNoImages
from tator.sam3 import datasets
from tator.sam3.train import KIND
from tator.sam3.train_start import start_training

router = IndexedRouter(prefix="/sam3", tags=["sam3"])
DATASET_ERRORS = (Sam3DatasetNotFound, Sam3DatasetTypeUnsupported, Sam3TrainingNoImages)


class Sam3TrainRequest(BaseModel):
    """The reference's other fields (workers, resolution, schedulers, class balancing, ...) are accepted
    and ignored: this trainer has no counterpart for them."""

    model_config = ConfigDict(extra="ignore")

    dataset_id: str = Field(description="Registered dataset to fine-tune on (converted to COCO first).")
    run_name: str | None = Field(default=None, description="Display name of the run.")
    max_epochs: int = Field(default=2, ge=1, le=1000, description="Passes over the training samples.")
    train_batch_size: int = Field(default=2, ge=1, le=64, description="Samples (image, prompt) per step.")
    lr_scale: float = Field(default=1.0, gt=0, le=100, description="Multiplies the base learning rate 1e-4.")
    train_limit: int | None = Field(default=None, ge=1, description="Use at most this many training images.")
    val_limit: int | None = Field(default=None, ge=1, description="Evaluate on at most this many val images.")
    freeze_language_backbone: bool = Field(default=True, description="Keep the text encoder frozen.")
    prompt_variants: dict[str, list[str]] = Field(
        default_factory=dict, description="Class name -> synonyms used as alternative training prompts."
    )
    val_score_thresh: float = Field(default=0.2, ge=0, le=1, description="Score a detection needs in the eval.")
    val_max_dets: int = Field(default=10, ge=1, le=300, description="Detections per prompt in the eval.")
    split_seed: int = Field(default=42, description="Seed of sample order (and of a drawn val split).")


@router.get("/datasets")
def sam3_datasets(layout: LayoutDep) -> list[dict[str, Any]]:
    """Registered datasets with their classes and, when converted, their SAM3 COCO files."""
    return datasets.list_sam3_datasets(layout)


@router.get("/datasets/{dataset_id}/classes", responses=responses(*DATASET_ERRORS))
def sam3_dataset_classes(dataset_id: str, layout: LayoutDep) -> dict[str, Any]:
    """The dataset's classes (index = class id)."""
    return datasets.dataset_classes(layout, dataset_id)


@router.post("/datasets/{dataset_id}/convert", responses=responses(*DATASET_ERRORS))
def sam3_dataset_convert(dataset_id: str, layout: LayoutDep) -> dict[str, Any]:
    """Convert a dataset to COCO train/val for SAM3 (a val split is drawn when absent; source untouched)."""
    return datasets.convert(layout, dataset_id)


@router.post("/train/jobs", responses=responses(*DATASET_ERRORS))
def sam3_train(body: Sam3TrainRequest, state: StateDep, jobs: JobsDep) -> dict[str, Any]:
    """Queue a fine-tuning run of the active SAM3 model; the checkpoint becomes a SAM3 model."""
    options = {
        "max_epochs": body.max_epochs, "batch_size": body.train_batch_size, "learning_rate": 1e-4 * body.lr_scale,
        "train_limit": body.train_limit, "val_limit": body.val_limit, "seed": body.split_seed,
        "freeze_language_backbone": body.freeze_language_backbone, "prompt_variants": body.prompt_variants,
        "val_score_thresh": body.val_score_thresh, "val_max_dets": body.val_max_dets,
    }  # fmt: skip
    record = start_training(
        jobs, state.layout, state.selections, state.base_models(), dataset_id=body.dataset_id,
        run_name=body.run_name, options=options,
    )  # fmt: skip
    return {"job_id": record.job_id, "status": record.status.value}


@router.get("/train/cache_size")
def sam3_cache_size(layout: LayoutDep) -> dict[str, int]:
    """Bytes held by converted training data."""
    return {"bytes": datasets.cache_bytes(layout)}


@router.post("/train/cache/purge")
def sam3_cache_purge(layout: LayoutDep) -> dict[str, Any]:
    """Delete every converted dataset (they are rebuilt on the next convert or training)."""
    return {"status": "ok", "deleted_bytes": datasets.purge_cache(layout)}


add_job_routes(router, "/train/jobs", KIND, Sam3JobNotFound)

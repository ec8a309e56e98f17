"""The segmentation-dataset build: `/segmentation/build/jobs*` (a bbox dataset becomes a new YOLO-seg one)."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import JobsDep, StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.api.training_routes import add_job_routes
from tator.errors import (
    DatasetAnnotationsInvalid,
    JobStartFailed,
    SamVariantUnknown,
    SegmentationJobNotFound,
    SegmentationNoBoxes,
    SegmentationNoClasses,
    SegmentationNoImages,
    SegmentationOutputExists,
    SegmentationOutputPathInvalid,
    SegmentationRequiresBbox,
    SegmentationSourceNotFound,
)
from tator.jobs.types import JobRecord
from tator.segmentation.build import KIND
from tator.segmentation.start import start_build

router = IndexedRouter(prefix="/segmentation", tags=["segmentation"])
START_ERRORS = (
    SegmentationSourceNotFound, SegmentationRequiresBbox, SegmentationNoClasses, SegmentationNoImages,
    SegmentationNoBoxes, SegmentationOutputPathInvalid, SegmentationOutputExists, SamVariantUnknown,
    DatasetAnnotationsInvalid, JobStartFailed,
)  # fmt: skip


class SegmentationBuildRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_dataset_id: str = Field(description="Registered bbox dataset (any format) whose boxes prompt SAM.")
    output_name: str | None = Field(
        default=None,
        description="Id of the new dataset (letters, digits, '._-'); 409 when taken. Default `<source>_seg`.",
    )
    sam_variant: str = Field(default="sam3", description="`sam3` (the SAM3 tracker) or `sam1` (classic SAM).")
    output_format: Literal["yolo-seg"] = Field(default="yolo-seg", description="Only YOLO-seg is written.")
    mask_threshold: float = Field(default=0.5, ge=0, le=1, description="Mask probability a pixel needs.")
    score_threshold: float = Field(
        default=0.0, ge=0, le=1, description="SAM's predicted IoU a mask needs; below it the box is kept."
    )
    simplify_ratio: float = Field(
        default=0.005, ge=0, le=0.5, description="Douglas-Peucker epsilon as a fraction of the contour perimeter."
    )
    simplify_epsilon: float = Field(
        default=30.0, ge=0, le=10_000, description="Upper bound of that epsilon, in pixels (0 = no simplification)."
    )
    min_size: float = Field(
        default=0.0, ge=0, description="Mask area (px^2, inside the box) under which the box is kept instead."
    )
    max_results: int = Field(default=1, ge=1, le=1, description="Masks per box: the best one (only 1 is supported).")
    components: Literal["largest", "all"] = Field(
        default="largest", description="Trace the largest mask component, or all of them joined into one polygon."
    )
    clip_to_box: bool = Field(default=True, description="Ignore mask pixels outside the prompting box.")


def build_view(record: JobRecord) -> dict[str, Any]:
    """The reference's job shape, its `config` summarising the plan (not the resolved paths)."""
    plan = record.params
    output_root = str(plan.get("output_root", ""))
    config = {
        "source_dataset_id": plan.get("source_dataset_id"), "sam_variant": plan.get("sam_variant"),
        "output_format": "yolo-seg",
        "options": {k: plan.get(k) for k in ("mask_threshold", "score_threshold", "simplify_ratio",
                                             "simplify_epsilon", "min_size", "components", "clip_to_box")},
        "planned_metadata": {"id": plan.get("output_id"), "label": plan.get("output_label"), "type": "seg",
                             "source": "sam3", "classes": plan.get("classes")},
        "planned_layout": {"dataset_root": f"{output_root}/{plan.get('output_id')}", "labelmap": "labelmap.txt",
                           "splits": {s: {"images": f"{s}/images", "labels": f"{s}/labels"}
                                      for s in plan.get("splits", [])}},
    }  # fmt: skip
    return {
        "job_id": record.job_id, "kind": record.kind, "status": record.status.value, "progress": record.progress,
        "message": record.message, "phase": record.phase, "config": config, "result": record.result,
        "logs": [line.model_dump() for line in record.logs],
        "error": record.error.model_dump() if record.error else None, "created_at": record.created_at,
        "updated_at": record.updated_at, "started_at": record.started_at, "finished_at": record.finished_at,
    }  # fmt: skip


@router.post("/build/jobs", responses=responses(*START_ERRORS))
def segmentation_build(body: SegmentationBuildRequest, state: StateDep, jobs: JobsDep) -> dict[str, Any]:
    """Queue a build of a new YOLO-seg dataset from a bbox dataset, one SAM box prompt per object."""
    options = body.model_dump(
        include={"mask_threshold", "score_threshold", "simplify_ratio", "simplify_epsilon", "min_size",
                 "components", "clip_to_box"}
    )  # fmt: skip
    record = start_build(
        jobs, state.layout, state.base_models(), state.selections, source_dataset_id=body.source_dataset_id,
        output_name=body.output_name, sam_variant=body.sam_variant, options=options,
    )  # fmt: skip
    return build_view(record)


add_job_routes(router, "/build/jobs", KIND, SegmentationJobNotFound, view=build_view)

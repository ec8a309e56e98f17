"""Starting a segmentation build: every refusal happens here, before anything is queued, and the
completion step that puts the finished dataset into the SAM3 datasets root."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tator.datasets.catalog import DatasetRef, find_dataset, id_taken
from tator.datasets.formats.model import DatasetAnnotations
from tator.datasets.install import RESERVED_IDS, install, numbered
from tator.datasets.meta import load_json_file, read_meta
from tator.datasets.views import load_annotations
from tator.errors import (
    DatasetNotFound,
    DatasetNotYoloReady,
    DatasetUploadTargetInvalid,
    InvalidId,
    JobCompletionFailed,
    LabelmapMissing,
    SegmentationNoBoxes,
    SegmentationNoClasses,
    SegmentationNoImages,
    SegmentationOutputExists,
    SegmentationOutputPathInvalid,
    SegmentationRequiresBbox,
    SegmentationSourceNotFound,
)
from tator.jobs.kinds import Completion
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.selections import ModelSelections
from tator.sam3.interactive import interactive_spec
from tator.segmentation.build import META_NAME, SEGMENTATION_BUILD, STAGING_DIR, SegmentationBuildPlan
from tator.storage.layout import Layout
from tator.storage.paths import check_id

OUTPUT_ROOT = "sam3_datasets"  # where the reference writes segmentation builds; `/datasets` lists it


def source_dataset(layout: Layout, dataset_id: str) -> tuple[DatasetRef, DatasetAnnotations]:
    """The source and its annotations, refused unless it is a bbox dataset with classes, images and boxes."""
    try:
        ref = find_dataset(layout, dataset_id)
    except (DatasetNotFound, InvalidId) as exc:
        raise SegmentationSourceNotFound(f"no dataset {dataset_id!r}", dataset_id=dataset_id[:128]) from exc
    if ref.meta.get("type") == "seg":
        raise SegmentationRequiresBbox(f"dataset {ref.id} is already a segmentation dataset", dataset_id=ref.id)
    try:
        ann = load_annotations(ref)
    except LabelmapMissing as exc:
        raise SegmentationNoClasses(f"dataset {ref.id} has no classes", dataset_id=ref.id) from exc
    except DatasetNotYoloReady as exc:
        raise SegmentationNoBoxes(f"dataset {ref.id} has no box annotations", dataset_id=ref.id) from exc
    if ann.has_polygons:
        raise SegmentationRequiresBbox(f"dataset {ref.id} already holds polygons", dataset_id=ref.id)
    if not ann.classes:
        raise SegmentationNoClasses(f"dataset {ref.id} has no classes", dataset_id=ref.id)
    if not ann.images:
        raise SegmentationNoImages(f"dataset {ref.id} has no images", dataset_id=ref.id)
    if not ann.box_count:
        raise SegmentationNoBoxes(f"dataset {ref.id} has no boxes to prompt SAM with", dataset_id=ref.id)
    return ref, ann


def _free(layout: Layout, candidate: str) -> bool:
    return candidate not in RESERVED_IDS and not id_taken(layout, candidate)


def output_id(layout: Layout, source_id: str, output_name: str | None) -> str:
    """The new dataset's id: `output_name` exactly (409 when taken), else `<source>_seg` (numbered if taken)."""
    if output_name is None:
        free = (c for c in numbered(f"{source_id[:120]}_seg") if _free(layout, c))
        return next(free)
    try:
        check_id(output_name, what="output_name")
    except InvalidId as exc:
        raise SegmentationOutputPathInvalid(exc.message, output_name=output_name[:128]) from exc
    if not _free(layout, output_name):
        raise SegmentationOutputExists(f"a dataset named {output_name!r} exists", output_name=output_name)
    return output_name


def plan_build(
    layout: Layout, base_models: Mapping[str, str], selections: ModelSelections, *, source_dataset_id: str,
    output_name: str | None,
    sam_variant: str, options: Mapping[str, Any],
) -> SegmentationBuildPlan:  # fmt: skip
    """Check the request against the data directory and resolve everything the job needs."""
    spec = interactive_spec(sam_variant, base_models, selections)  # the active fine-tuned SAM3 when there is one
    ref, ann = source_dataset(layout, source_dataset_id)
    new_id = output_id(layout, ref.id, output_name)
    return SegmentationBuildPlan(
        source_dataset_id=ref.id, source_path=str(ref.path), source_kind=ref.source, source_root=str(ref.root),
        source_signature=ref.meta.get("signature"), output_id=new_id,
        output_label=output_name or f"{ref.meta.get('label') or ref.id} (segmentation)",
        output_root=str(layout.root(OUTPUT_ROOT)), classes=list(ann.classes), splits=list(ann.splits),
        sam_variant=sam_variant, model_family=spec.family, model_source=spec.source,
        model_options=spec.options, **options,
    )  # fmt: skip


def start_build(
    jobs: JobManager, layout: Layout, base_models: Mapping[str, str], selections: ModelSelections, *,
    source_dataset_id: str,
    output_name: str | None, sam_variant: str, options: Mapping[str, Any],
) -> JobRecord:  # fmt: skip
    """Plan and queue a build; the new dataset appears in `/datasets` when the job succeeds."""
    plan = plan_build(layout, base_models, selections, source_dataset_id=source_dataset_id, output_name=output_name,
                      sam_variant=sam_variant, options=options)  # fmt: skip
    return jobs.submit_kind(SEGMENTATION_BUILD, plan)


def _installed(root: Path, plan: SegmentationBuildPlan, job_id: str) -> dict[str, Any] | None:
    meta, _ = read_meta(root / plan.output_id)
    build = meta.get("segmentation_build")
    return meta if isinstance(build, dict) and build.get("job_id") == job_id else None


def complete_build(layout: Layout) -> Completion:
    """The completion step: rename `<run_dir>/dataset` into the SAM3 datasets root under the planned id.
    Idempotent: run again after a kill, it finds the dataset this job already installed."""

    def complete(record: JobRecord) -> dict[str, Any]:
        plan = SegmentationBuildPlan.model_validate(record.params)
        root = layout.root(OUTPUT_ROOT)
        staging = Path(record.run_dir or "") / STAGING_DIR
        draft = load_json_file(staging / META_NAME)
        if draft is None:
            done = _installed(root, plan, record.job_id)
            if done is None:
                raise JobCompletionFailed("the built dataset is missing from the job's run directory")
            return {"output_dataset_id": done["id"], "dataset_root": str(root / done["id"])}
        try:
            meta, _ = install(layout, root, staging, iter([plan.output_id]),
                              lambda new_id: {**draft, "id": new_id, "created_at": time.time()})  # fmt: skip
        except DatasetUploadTargetInvalid as exc:
            raise SegmentationOutputExists(f"a dataset named {plan.output_id!r} was created meanwhile",
                                           output_name=plan.output_id) from exc  # fmt: skip
        return {"output_dataset_id": meta["id"], "dataset_root": str(root / meta["id"])}

    return complete

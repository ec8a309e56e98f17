"""The build's completion step: the finished dataset is renamed into the SAM3 datasets root once, a rerun
after a kill finds it, and an output name taken meanwhile fails the job instead of overwriting anything."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tator.datasets.catalog import find_dataset
from tator.datasets.formats.yolo import detect_layout, read_yolo, write_yolo
from tator.errors import JobCompletionFailed, SegmentationOutputExists
from tator.jobs.types import JobRecord
from tator.segmentation.build import META_NAME, STAGING_DIR, SegmentationBuildPlan
from tator.segmentation.start import OUTPUT_ROOT, complete_build
from tator.storage.files import atomic_write_json
from tator.storage.layout import Layout
from tator.zoo.synthetic import make_detection_dataset


def _record(tmp_path: Path, layout: Layout, job_id: str, output_id: str) -> JobRecord:
    source = make_detection_dataset(tmp_path / f"src-{job_id}", n_train=2, n_val=1, image_size=64)
    layout_info = detect_layout(source.root)
    assert layout_info is not None
    run_dir = tmp_path / "runs" / job_id
    write_yolo(read_yolo(source.root, layout_info), run_dir / STAGING_DIR)
    draft = {"id": output_id, "type": "seg", "segmentation_build": {"job_id": job_id}}
    atomic_write_json(run_dir / STAGING_DIR / META_NAME, draft)
    plan = SegmentationBuildPlan(
        source_dataset_id="src", source_path=str(source.root), source_kind="registry",
        source_root=str(source.root.parent), source_signature=None, output_id=output_id, output_label=output_id,
        output_root=str(layout.root(OUTPUT_ROOT)), classes=list(source.labelmap), splits=["train", "val"],
        sam_variant="sam3", model_family="sam3_tracker", model_source="unused",
    )  # fmt: skip
    now = time.time()
    return JobRecord(job_id=job_id, kind="segmentation.build", params=plan.model_dump(mode="json"),
                     run_dir=str(run_dir), created_at=now, updated_at=now)  # fmt: skip


def test_completion_installs_once_and_is_idempotent(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "uploads", tmp_path / "logs")
    complete = complete_build(layout)
    record = _record(tmp_path, layout, "job1", "shapes_seg")
    first = complete(record)
    assert first == {"output_dataset_id": "shapes_seg", "dataset_root": str(layout.root(OUTPUT_ROOT) / "shapes_seg")}
    ref = find_dataset(layout, "shapes_seg")
    assert ref.source == "sam3" and ref.meta["id"] == "shapes_seg" and ref.meta["created_at"] > 0
    assert not (Path(record.run_dir or "") / STAGING_DIR).exists()
    assert complete(record) == first  # rerun at start-up after a kill


def test_an_output_name_taken_meanwhile_fails_the_job(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "uploads", tmp_path / "logs")
    complete = complete_build(layout)
    complete(_record(tmp_path, layout, "job1", "taken"))
    late = _record(tmp_path, layout, "job2", "taken")
    with pytest.raises(SegmentationOutputExists):
        complete(late)
    assert find_dataset(layout, "taken").meta["segmentation_build"]["job_id"] == "job1"
    (Path(late.run_dir or "") / STAGING_DIR / META_NAME).unlink()
    with pytest.raises(JobCompletionFailed):
        complete(late)  # no staged dataset and not this job's install

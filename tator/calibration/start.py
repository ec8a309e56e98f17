"""Starting, cancelling and reading calibration jobs: every check on the request runs before anything is queued.

Refused up front (4xx): an unknown dataset, a dataset without images or without labelled boxes, no source enabled,
an unknown classifier head, an unknown stored prepass and (when the job runs the prepass) what the prepass planner
refuses (no model for any enabled source ...).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tator.calibration.cache import prepass_folder
from tator.calibration.job import CALIBRATION, KIND, CalibrationPlan
from tator.calibration.report import bundle
from tator.clip.library import resolve_classifier
from tator.datasets.catalog import find_dataset
from tator.datasets.views import load_annotations
from tator.errors import (
    CalibrationImagesMissing,
    CalibrationJobNotFound,
    CalibrationLabelsMissing,
    CalibrationNoSourceEnabled,
    CalibrationReportMissing,
    JobNotCancellable,
)
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.prepass.config import PrepassConfig
from tator.prepass.dataset import plan_dataset
from tator.prepass.resolve import ServerModels
from tator.storage.layout import Layout

KINDS = (KIND,)


def new_job_id() -> str:
    """The contract's calibration job id: `cal_` + 8 hex digits."""
    return f"cal_{secrets.token_hex(4)}"


def start_calibration(
    jobs: JobManager,
    layout: Layout,
    *,
    dataset_id: str,
    prepass_id: str | None,
    server: ServerModels | None,
    sources: Sequence[str],
    classifier_id: str | None,
    options: Mapping[str, Any],
    prepass_config: PrepassConfig | None = None,
) -> JobRecord:
    """Check the request and queue a calibration job; its run directory is `calibration_jobs/<job id>/`."""
    ref = find_dataset(layout, dataset_id)
    annotations = load_annotations(ref)
    if not annotations.images:
        raise CalibrationImagesMissing(f"dataset {ref.id} has no images", dataset_id=ref.id)
    if annotations.box_count == 0 or not annotations.classes:
        raise CalibrationLabelsMissing(f"dataset {ref.id} has no labelled boxes to calibrate on", dataset_id=ref.id)
    if not sources:
        raise CalibrationNoSourceEnabled("enable at least one candidate source (yolo, rfdetr, sam3_text, ...)")
    if classifier_id:
        resolve_classifier(layout.root("classifiers"), classifier_id, what="classifier_id")
    folder = prepass_folder(layout.root("calibration_cache"), prepass_id) if prepass_id else None
    prepass = None
    if folder is None and server is not None:
        flags = {f"enable_{s}": True for s in sources if f"enable_{s}" in PrepassConfig.model_fields}
        off = {name: False for name in PrepassConfig.model_fields if name.startswith("enable_")}
        config = (prepass_config or PrepassConfig()).model_copy(update={**off, **flags})
        prepass = plan_dataset(layout, server, ref.id, config, classifier_id=classifier_id)
    job_id = new_job_id()
    plan = CalibrationPlan(
        dataset_id=ref.id, dataset_path=str(ref.path), classes=list(annotations.classes),
        prepass_dir=str(folder) if folder else None, prepass=prepass, sources=list(sources), **options,
    )  # fmt: skip
    return jobs.submit_kind(CALIBRATION, plan, run_dir=layout.root("calibration_jobs") / job_id, job_id=job_id)


def get_job(jobs: JobManager, job_id: str) -> JobRecord:
    """One calibration job; 404 `calibration_job_not_found`."""
    return jobs.get(job_id, kinds=KINDS, not_found=CalibrationJobNotFound)


def cancel_job(jobs: JobManager, job_id: str) -> JobRecord:
    """Cancel a queued or running job; a job that already finished is returned unchanged (no error)."""
    record = get_job(jobs, job_id)
    if record.status.terminal:
        return record
    try:
        return jobs.cancel(job_id, kinds=KINDS, not_found=CalibrationJobNotFound)
    except JobNotCancellable:  # it finished between the read and the cancel
        return get_job(jobs, job_id)


def report_bundle(jobs: JobManager, job_id: str) -> bytes:
    """The zip of a finished job's report (JSON, Markdown, PR plot, calibrator JSON)."""
    record = get_job(jobs, job_id)
    run_dir = Path(record.run_dir) if record.run_dir else None
    if run_dir is None or not (run_dir / "report.json").is_file():
        raise CalibrationReportMissing(f"job {job_id} has no report (status {record.status.value})", job_id=job_id)
    return bundle(run_dir)

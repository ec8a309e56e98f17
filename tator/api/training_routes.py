"""Per-domain job routes (`/<family>/train/jobs`) as views over the one job manager."""

# No `from __future__ import annotations`: routes are defined inside a function (see detector_routes).

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from tator.api.deps import JobsDep
from tator.errors import (
    DatasetAnnotationsInvalid,
    DatasetHasNoBoxes,
    DatasetIdOrRootRequired,
    DatasetNotFound,
    DatasetNotYoloReady,
    DeviceUnavailable,
    InvalidId,
    InvalidRelativePath,
    InvalidRunId,
    JobStartFailed,
    TatorError,
    TrainingOptionUnsupported,
    YoloCudaDevicesUnavailable,
    YoloMpsUnavailable,
    YoloOnnxExportUnavailable,
)
from tator.jobs.types import JobRecord

# What resolving a training dataset and queueing a training job can answer, for every training route.
TRAINING_ERRORS = (
    DatasetIdOrRootRequired, InvalidId, InvalidRelativePath, DatasetNotFound, DatasetNotYoloReady,
    DatasetAnnotationsInvalid, DatasetHasNoBoxes, InvalidRunId, DeviceUnavailable, JobStartFailed,
)  # fmt: skip

# Options of YOLO jobs (training, head graft) that this server refuses rather than ignores.
TRAINING_OPTION_ERRORS = (
    TrainingOptionUnsupported,
    YoloOnnxExportUnavailable,
    YoloMpsUnavailable,
    YoloCudaDevicesUnavailable,
)


def job_view(record: JobRecord) -> dict[str, Any]:
    """The reference's job shape: config, logs, per-epoch metric rows, result, error."""
    rows: dict[float, dict[str, float]] = defaultdict(dict)
    for name, points in record.metrics.items():
        for point in points:
            rows[point.step][name] = point.value
    return {
        "job_id": record.job_id,
        "kind": record.kind,
        "status": record.status.value,
        "progress": record.progress,
        "message": record.message,
        "phase": record.phase,
        "device": record.device,
        "config": record.params,
        "logs": [line.model_dump() for line in record.logs],
        "metrics": [{"epoch": step, **values} for step, values in sorted(rows.items())],
        "result": record.result,
        "error": record.error.model_dump() if record.error else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }


def add_job_routes(
    router: APIRouter,
    path: str,
    kind: str,
    not_found: type[TatorError],
    *,
    view: Callable[[JobRecord], dict[str, Any]] = job_view,
) -> None:
    """GET list, GET one, POST cancel under `path` for jobs of `kind` (start is domain-specific)."""

    @router.get(path)
    def list_jobs(jobs: JobsDep) -> list[dict[str, Any]]:
        """Jobs of this kind, newest first."""
        return [view(r) for r in jobs.list(kinds=(kind,))]

    @router.get(path + "/{job_id}")
    def get_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
        """One job: status, progress, config, logs, per-epoch metrics, result or error."""
        return view(jobs.get(job_id, kinds=(kind,), not_found=not_found))

    @router.post(path + "/{job_id}/cancel")
    def cancel_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
        """Cancel: a queued job stops at once, a running one at its next batch."""
        record = jobs.cancel(job_id, kinds=(kind,), not_found=not_found)
        return {"job_id": record.job_id, "status": record.status.value}

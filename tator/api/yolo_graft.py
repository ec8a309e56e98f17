"""YOLO head-graft routes: dry run, jobs (start/list/get/cancel/bundle) and bundle import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import File, Form, UploadFile
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from tator.api.deps import JobsDep, LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.api.training_routes import TRAINING_ERRORS, TRAINING_OPTION_ERRORS, job_view
from tator.api.yolo import YoloRunsDep
from tator.errors import (
    DatasetHasNoBoxes,
    DatasetNotFound,
    JobNotCancellable,
    JobNotFound,
    UploadTooLarge,
    YoloBaseCheckpointUnsupported,
    YoloBaseLabelmapMissing,
    YoloBaseMissing,
    YoloBaseMissingBest,
    YoloBundleInvalid,
    YoloBundleUnsafe,
    YoloGraftDetectOnly,
    YoloHeadGraftBundleIncomplete,
    YoloHeadGraftNotFound,
    YoloLabelmapOverlap,
    YoloRunExists,
    YoloTosRequired,
)
from tator.yolo import graft_bundle
from tator.yolo.graft_plan import KIND, HeadGraftDryRunRequest, HeadGraftRequest, append_audit, dry_run
from tator.yolo.graft_start import start_graft

router = IndexedRouter(prefix="/yolo/head_graft", tags=["yolo"])
_BASE_ERRORS = (YoloBaseMissing, YoloBaseMissingBest, YoloBaseLabelmapMissing, YoloGraftDetectOnly,
                YoloBaseCheckpointUnsupported, DatasetNotFound, DatasetHasNoBoxes)  # fmt: skip


@router.post("/dry_run", responses=responses(*_BASE_ERRORS, *TRAINING_ERRORS))
def graft_dry_run(body: HeadGraftDryRunRequest, layout: LayoutDep, runs: YoloRunsDep) -> dict[str, Any]:
    """Check a graft (base run, dataset, class overlap) without queueing it: `{ok, overlap, new_classes, ...}`."""
    return dry_run(body, layout=layout, runs=runs)


@router.post(
    "/jobs",
    responses=responses(
        YoloTosRequired, YoloLabelmapOverlap, YoloRunExists, *_BASE_ERRORS, *TRAINING_ERRORS, *TRAINING_OPTION_ERRORS
    ),
)
def start_graft_job(
    body: HeadGraftRequest, layout: LayoutDep, jobs: JobsDep, runs: YoloRunsDep, settings: SettingsDep
) -> dict[str, Any]:
    """Queue a head graft: new classes trained onto a frozen base run; every check runs first."""
    record = start_graft(body, layout=layout, jobs=jobs, runs=runs, offline=settings.offline)
    return job_view(record)


@router.get("/jobs")
def list_graft_jobs(jobs: JobsDep) -> list[dict[str, Any]]:
    """Head-graft jobs, newest first."""
    return [job_view(record) for record in jobs.list(kinds=(KIND,))]


@router.get("/jobs/{job_id}", responses=responses(JobNotFound))
def get_graft_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """One head-graft job: status, progress, config, logs, per-epoch metrics, result or error."""
    return job_view(jobs.get(job_id, kinds=(KIND,)))


@router.post("/jobs/{job_id}/cancel", responses=responses(JobNotFound, JobNotCancellable))
def cancel_graft_job(job_id: str, jobs: JobsDep, runs: YoloRunsDep) -> dict[str, Any]:
    """Cancel a graft (queued: at once; running: at its next batch); the run's audit records it."""
    record = jobs.cancel(job_id, kinds=(KIND,))
    if record.run_dir:
        append_audit(Path(record.run_dir), "status", status=record.status.value, job_id=job_id)
    if record.status.value == "cancelled":  # cancelled before it ran: the job never updates run.json
        runs.store.update(job_id, status="cancelled")
    return {"job_id": record.job_id, "status": record.status.value}


@router.get("/jobs/{job_id}/bundle", responses=responses(YoloHeadGraftNotFound, YoloHeadGraftBundleIncomplete))
def download_graft_bundle(job_id: str, runs: YoloRunsDep) -> FileResponse:
    """A zip of the graft run: best.pt, labelmap.txt, head_graft_audit.jsonl, run.json and its *.yaml."""
    archive = graft_bundle.export_bundle(runs, job_id)
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=f"yolo_head_graft_{job_id}.zip",
        background=BackgroundTask(archive.unlink, missing_ok=True),
    )


@router.post("/import", responses=responses(YoloBundleInvalid, YoloBundleUnsafe, YoloRunExists, UploadTooLarge))
def import_graft_bundle(
    file: Annotated[UploadFile, File(description="A bundle zip from GET /yolo/head_graft/jobs/{job_id}/bundle.")],
    runs: YoloRunsDep,
    settings: SettingsDep,
    run_name: str | None = Form(default=None, description="Display name of the imported run."),
    activate: bool = Form(default=False, description="Make the imported run the active YOLO model."),
) -> dict[str, Any]:
    """Import a graft bundle zip as a new YOLO run (checked as untrusted; the checkpoint is rebuilt)."""
    limit = min(settings.max_upload_bytes, graft_bundle.LIMITS.max_total_bytes)
    if file.size is not None and file.size > limit:
        raise UploadTooLarge(f"the bundle is over {limit} bytes", limit_bytes=limit)
    return graft_bundle.import_bundle(file.file, runs=runs, run_name=run_name, activate=activate)

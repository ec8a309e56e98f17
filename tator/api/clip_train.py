"""`/clip/train`: start (multipart form as the reference's UI sends it, or JSON), list, get, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tator.api.deps import JobsDep, LayoutDep, StateDep
from tator.api.errors import responses
from tator.api.openapi_docs import form_or_json_body
from tator.api.routing import IndexedRouter
from tator.api.training_routes import add_job_routes, job_view
from tator.clip.params import KIND, ClipTrainRequest
from tator.clip.staging import UploadedFile
from tator.clip.train_start import start_training
from tator.errors import (
    ClipEncoderTypeUnsupported,
    ClipModelNotAllowed,
    ClipTooFewClasses,
    DatasetHasNoBoxes,
    DatasetNotFound,
    DatasetPathsUnresolved,
    ImagesRequired,
    JobNotFound,
    LabelmapInvalid,
    LabelmapMissing,
    LabelsRequired,
    UploadFilenameInvalid,
    UploadTooLarge,
)
from tator.jobs.types import JobRecord

router = IndexedRouter(prefix="/clip", tags=["clip"])
MAX_FORM_FILES = 20_000
MAX_FORM_FIELDS = 500


async def _read_request(request: Request, max_bytes: int) -> tuple[ClipTrainRequest, list[UploadedFile]]:
    """The form (or JSON) fields as a validated request, and the uploaded files; bad input is a 422."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise UploadTooLarge(f"the upload exceeds {max_bytes} bytes", limit_bytes=max_bytes)
    files: list[UploadedFile] = []
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            fields: Any = await request.json()
        else:
            form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
            fields = {key: value for key, value in form.multi_items() if isinstance(value, str)}
            files = [UploadedFile(key, value.filename, value.file) for key, value in form.multi_items()
                     if isinstance(value, UploadFile)]  # fmt: skip
        return ClipTrainRequest.model_validate(fields), files
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from exc
    except ValueError as exc:  # malformed JSON
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",), "msg": str(exc)}]) from exc


@router.post(
    "/train",
    status_code=202,
    responses=responses(
        DatasetPathsUnresolved, DatasetNotFound, DatasetHasNoBoxes, ImagesRequired, LabelsRequired, LabelmapMissing,
        LabelmapInvalid, UploadFilenameInvalid, UploadTooLarge, ClipEncoderTypeUnsupported, ClipModelNotAllowed,
        ClipTooFewClasses,
    ),
    openapi_extra=form_or_json_body(ClipTrainRequest, files={
        "images": "Images to crop from (repeat the part per file), instead of dataset_id.",
        "labels": "YOLO label .txt files matching the images by stem (repeat the part per file).",
        "labelmap": "labelmap.txt: class names, one per line, in YOLO id order.",
    }),
)  # fmt: skip
async def start_train(request: Request, state: StateDep, layout: LayoutDep, jobs: JobsDep) -> dict[str, Any]:
    """Queue a classifier-head training job from a registered `dataset_id` or from uploaded `images`,
    `labels` (YOLO txt) and `labelmap` files. Every precondition is checked before anything is queued."""
    settings = state.settings
    body, files = await _read_request(request, settings.max_upload_bytes)
    record = await run_in_threadpool(
        start_training, body, files, layout=layout, jobs=jobs, base_models=state.base_models,
        tiny=settings.model_zoo == "tiny", max_upload_bytes=settings.max_upload_bytes,
        cache_max_bytes=settings.clip_embedding_cache_bytes,
    )  # fmt: skip
    return clip_job_view(record)


def clip_job_view(record: JobRecord) -> dict[str, Any]:
    """The job view plus the contract's `artifacts` (the published head's paths and metrics; `result` too)."""
    return job_view(record) | {"artifacts": record.result}


add_job_routes(router, "/train", KIND, JobNotFound, view=clip_job_view)

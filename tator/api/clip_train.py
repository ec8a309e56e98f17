"""`/clip/train`: start (multipart form as the reference's UI sends it, or JSON), list, get, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from tator.api.deps import JobsDep, LayoutDep, StateDep
from tator.api.errors import responses
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

router = APIRouter(prefix="/clip", tags=["clip"])
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
        raise RequestValidationError(exc.errors(include_url=False)) from exc
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
)  # fmt: skip
async def start_train(request: Request, state: StateDep, layout: LayoutDep, jobs: JobsDep) -> dict[str, Any]:
    """Queue a classifier-head training job from a registered `dataset_id` or from uploaded `images`,
    `labels` (YOLO txt) and `labelmap` files. Every precondition is checked before anything is queued."""
    settings = state.settings
    body, files = await _read_request(request, settings.max_upload_bytes)
    record = await run_in_threadpool(
        start_training, body, files, layout=layout, jobs=jobs, base_models=state.base_models,
        tiny=settings.model_zoo == "tiny", max_upload_bytes=settings.max_upload_bytes,
    )  # fmt: skip
    return job_view(record)


add_job_routes(router, "/train", KIND, JobNotFound)

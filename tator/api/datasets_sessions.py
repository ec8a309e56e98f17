"""Resumable dataset upload sessions: init, chunk at an offset, status, finalize, abort.

A client sends the zip in chunks (`PUT|POST /datasets/upload_session/{id}/chunk?offset=N`, raw body),
can ask the server how far it got after any failure or restart, and finalizes to create the dataset.
"""

from __future__ import annotations

from typing import Any

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from tator.api.datasets import UPLOAD_ERRORS
from tator.api.datasets_stream import pump_chunk, zip_limits
from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.openapi_docs import raw_body
from tator.api.routing import IndexedRouter
from tator.datasets import sessions
from tator.datasets.ingest import UploadOptions
from tator.errors import (
    DatasetTypeInvalid,
    DatasetUploadChecksumMismatch,
    DatasetUploadIncomplete,
    DatasetUploadOffsetMismatch,
    DatasetUploadSessionBusy,
    DatasetUploadSessionNotFound,
    InvalidId,
    UploadTooLarge,
)

router = IndexedRouter(prefix="/datasets", tags=["datasets"])

SESSION_ERRORS = (InvalidId, DatasetUploadSessionNotFound, DatasetUploadSessionBusy)


class UploadSessionInitRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    total_bytes: int = Field(gt=0, description="Size of the whole zip in bytes.")
    filename: str | None = Field(
        default=None, max_length=1024, description="The zip's file name (the dataset id defaults to its stem)."
    )
    dataset_id: str | None = Field(
        default=None,
        description=(
            "Id of the dataset to create (letters, digits, . _ -); default: the zip's name. A taken id "
            "gets _1, _2 ... (the answer says so)."
        ),
    )
    label: str | None = Field(default=None, max_length=1024, description="Display label (default: the id).")
    dataset_type: str = Field(default="bbox", description="bbox or seg.")
    context: str = Field(
        default="", max_length=65_536, description="Free text describing the dataset (kept in its metadata)."
    )
    sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="Hex sha256 of the whole zip, checked at finalize (optional).",
    )


class UploadSessionsResponse(BaseModel):
    items: list[dict[str, Any]]
    total: int


@router.post("/upload_session/init", responses=responses(InvalidId, DatasetTypeInvalid, UploadTooLarge))
def init_upload_session(body: UploadSessionInitRequest, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Open a session for a zip of `total_bytes` (optionally with its sha256, checked at finalize)."""
    options = UploadOptions(body.dataset_id, body.label, body.dataset_type.strip().lower(), body.context, body.filename)
    return sessions.init_session(
        sessions.sessions_root(layout), options, total_bytes=body.total_bytes,
        max_bytes=settings.max_upload_bytes, sha256=body.sha256,
    )  # fmt: skip


@router.get("/upload_sessions", response_model=UploadSessionsResponse)
def list_upload_sessions(layout: LayoutDep) -> UploadSessionsResponse:
    """Open sessions, newest first."""
    items = sessions.list_sessions(sessions.sessions_root(layout))
    return UploadSessionsResponse(items=items, total=len(items))


@router.get("/upload_session/{session_id}", responses=responses(*SESSION_ERRORS))
def upload_session_status(session_id: str, layout: LayoutDep) -> dict[str, Any]:
    """How many bytes arrived (`offset`): the place to resume from."""
    return sessions.session_status(sessions.sessions_root(layout), session_id)


_CHUNK_ERRORS = responses(*SESSION_ERRORS, DatasetUploadOffsetMismatch, UploadTooLarge)
_CHUNK_BODY = raw_body("application/octet-stream", "The next bytes of the zip, starting at `offset`.")


@router.put(
    "/upload_session/{session_id}/chunk",
    responses=_CHUNK_ERRORS,
    operation_id="datasets-upload_session_chunk_put",
    openapi_extra=_CHUNK_BODY,
)
@router.post(
    "/upload_session/{session_id}/chunk",
    responses=_CHUNK_ERRORS,
    operation_id="datasets-upload_session_chunk",
    openapi_extra=_CHUNK_BODY,
)
async def upload_session_chunk(
    session_id: str, request: Request, layout: LayoutDep, offset: int = Query(ge=0)
) -> dict[str, Any]:
    """Append the raw request body at `offset` (which must equal the bytes received so far)."""
    writer = await run_in_threadpool(sessions.ChunkWriter, sessions.sessions_root(layout), session_id, offset)
    return await pump_chunk(request, writer)


@router.post(
    "/upload_session/{session_id}/finalize",
    responses=responses(*SESSION_ERRORS, DatasetUploadIncomplete, DatasetUploadChecksumMismatch, *UPLOAD_ERRORS),
)
def finalize_upload_session(session_id: str, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Create the dataset from the complete zip; returns its metadata (the session is then closed)."""
    root = sessions.sessions_root(layout)
    return sessions.finalize_any(root, session_id, layout=layout, limits=zip_limits(settings))


@router.post("/upload_session/{session_id}/abort", responses=responses(*SESSION_ERRORS))
@router.delete(
    "/upload_session/{session_id}", responses=responses(*SESSION_ERRORS), operation_id="datasets-delete_upload_session"
)
def abort_upload_session(session_id: str, layout: LayoutDep) -> dict[str, Any]:
    """Drop a session and its bytes."""
    return sessions.abort_session(sessions.sessions_root(layout), session_id)

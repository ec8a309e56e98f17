"""Per-image dataset upload sessions: start (labelmap + counts), batches of images with YOLO label text,
finalize into a dataset, cancel.

Registered before the raw-bytes session router: `finalize` and `cancel` serve both kinds of session
(a raw-bytes session id is handed to that protocol), so the two protocols share one id space.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from tator.api.datasets import UPLOAD_ERRORS
from tator.api.datasets_stream import zip_limits
from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.datasets import image_sessions, sessions
from tator.errors import (
    DatasetUploadChecksumMismatch,
    DatasetUploadIncomplete,
    DatasetUploadManifestInvalid,
    DatasetUploadSessionBusy,
    DatasetUploadSessionDatasetIdRequired,
    DatasetUploadSessionNotFound,
    InvalidId,
    InvalidRelativePath,
)

router = IndexedRouter(prefix="/datasets", tags=["datasets"])

SESSION_ERRORS = (InvalidId, DatasetUploadSessionNotFound, DatasetUploadSessionBusy)


class ImageSessionStartRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: str | None = Field(
        default=None, description="Id of the dataset to create (required by this protocol; letters, digits, . _ -)."
    )
    dataset_type: str = Field(default="bbox", description="bbox or seg.")
    context: str = Field(
        default="", max_length=65_536, description="Free text describing the dataset (kept in its metadata)."
    )
    classes: list[str] = Field(
        min_length=1,
        max_length=10_000,
        description="The labelmap: class names in id order (YOLO class ids index this list).",
    )
    total_images: int = Field(ge=1, description="How many images the session will send in its batches.")


@router.post("/upload_session/start", responses=responses(DatasetUploadSessionDatasetIdRequired, *UPLOAD_ERRORS))
def start_image_session(body: ImageSessionStartRequest, layout: LayoutDep) -> dict[str, Any]:
    """Open a per-image session for `total_images` images of the labelmap `classes`."""
    return image_sessions.start_session(
        sessions.sessions_root(layout), dataset_id=body.dataset_id, dataset_type=body.dataset_type.strip().lower(),
        context=body.context, classes=body.classes, total_images=body.total_images,
    )  # fmt: skip


@router.post(
    "/upload_session/{session_id}/batch",
    responses=responses(*SESSION_ERRORS, InvalidRelativePath, DatasetUploadManifestInvalid, *UPLOAD_ERRORS),
)
def image_session_batch(
    session_id: str,
    layout: LayoutDep,
    settings: SettingsDep,
    manifest: Annotated[
        str,
        Form(
            description='JSON `{"rows": [{"filename", "split", "labels"}]}`: per image its split and YOLO label text.'
        ),
    ],
    files: Annotated[list[UploadFile], File(description="The images of this batch (one part per image).")],
) -> dict[str, Any]:
    """Add images (form `files`) with their split and label text (form `manifest`: `{rows: [...]}`).

    A filename already received is replaced, so a failed batch can simply be sent again."""
    return image_sessions.add_batch(
        sessions.sessions_root(layout), session_id, manifest, [(f.filename, f.file) for f in files],
        max_bytes=settings.max_upload_bytes, max_pixels=settings.image_max_pixels,
    )  # fmt: skip


@router.post(
    "/upload_session/{session_id}/finalize",
    responses=responses(*SESSION_ERRORS, DatasetUploadIncomplete, DatasetUploadChecksumMismatch, *UPLOAD_ERRORS),
)
def finalize_any_upload_session(session_id: str, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Create the dataset from a complete session (per-image or raw-bytes); returns its metadata. Repeating
    it after success (an answer lost, a crash) answers with the dataset it made."""
    root = sessions.sessions_root(layout)
    return sessions.finalize_any(root, session_id, layout=layout, limits=zip_limits(settings))


@router.post("/upload_session/{session_id}/cancel", responses=responses(*SESSION_ERRORS))
def cancel_upload_session(session_id: str, layout: LayoutDep) -> dict[str, Any]:
    """Drop a session and everything it staged."""
    root = sessions.sessions_root(layout)
    if image_sessions.is_image_session(root, session_id):
        return image_sessions.cancel_session(root, session_id)
    sessions.abort_session(root, session_id)
    return {"session_id": session_id, "status": "cancelled"}

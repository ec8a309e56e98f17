"""File uploads into the flat asset folders (labelmaps)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, UploadFile

from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.datasets import assets
from tator.errors import (
    FilenameRequired,
    LabelmapInvalid,
    UploadExists,
    UploadExtensionNotAllowed,
    UploadFilenameInvalid,
    UploadQuotaExceeded,
    UploadTooLarge,
)

router = IndexedRouter(prefix="/fs", tags=["fs"])


@router.post(
    "/upload_labelmap",
    responses=responses(FilenameRequired, UploadFilenameInvalid, UploadExtensionNotAllowed, UploadExists,
                        UploadTooLarge, UploadQuotaExceeded, LabelmapInvalid),
)  # fmt: skip
def upload_labelmap(
    file: Annotated[UploadFile, File(description="labelmap.txt: class names, one per line (or a plain-list .pkl).")],
    layout: LayoutDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Save a labelmap (`.txt`, or a plain-list `.pkl` stored as `.txt`) under uploads/labelmaps: `{path}`.
    Existing files are never overwritten (409 upload_exists)."""
    return assets.save_labelmap(
        layout.root("labelmaps"), file.filename, file.file,
        max_bytes=settings.max_upload_bytes, quota_bytes=settings.max_upload_bytes,
    )  # fmt: skip

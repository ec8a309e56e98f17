"""Dataset routes: list, upload (streamed zip), delete, download (streamed zip), check, build Qwen."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from tator.api.datasets_stream import drain, receive_upload, upload_options, with_ignored_form_fields, zip_limits
from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.openapi_docs import multipart_body
from tator.api.routing import IndexedRouter
from tator.datasets import check, export, ingest, listing, trash
from tator.errors import (
    DatasetAnnotationsInvalid,
    DatasetDeleteForbidden,
    DatasetExportFailed,
    DatasetFormatUnrecognized,
    DatasetImageInvalid,
    DatasetImageTooLarge,
    DatasetLabelClassOutOfRange,
    DatasetLabelInvalid,
    DatasetNotFound,
    DatasetNotYoloReady,
    DatasetTypeInvalid,
    DatasetUploadFileMissing,
    DatasetZipAbsolutePath,
    DatasetZipCompressionRatio,
    DatasetZipDuplicateMember,
    DatasetZipEncryptedUnsupported,
    DatasetZipEntryTooLarge,
    DatasetZipInvalid,
    DatasetZipMemberNameInvalid,
    DatasetZipOverlappingEntries,
    DatasetZipPathTraversal,
    DatasetZipSpecialMemberUnsupported,
    DatasetZipSymlinkUnsupported,
    DatasetZipTooManyEntries,
    DatasetZipUncompressedTooLarge,
    IdempotencyKeyInvalid,
    InvalidId,
    LabelmapInvalid,
    LabelmapMissing,
    MetadataWriteFailed,
    MultipartInvalid,
    UploadContentTypeInvalid,
    UploadTooLarge,
)

router = IndexedRouter(prefix="/datasets", tags=["datasets"])

UPLOAD_ERRORS = (
    InvalidId, DatasetTypeInvalid, UploadContentTypeInvalid, MultipartInvalid, DatasetUploadFileMissing, UploadTooLarge,
    DatasetZipInvalid, DatasetZipPathTraversal, DatasetZipAbsolutePath, DatasetZipMemberNameInvalid,
    DatasetZipSymlinkUnsupported, DatasetZipSpecialMemberUnsupported, DatasetZipEncryptedUnsupported,
    DatasetZipDuplicateMember, DatasetZipOverlappingEntries, DatasetZipTooManyEntries, DatasetZipEntryTooLarge,
    DatasetZipUncompressedTooLarge, DatasetZipCompressionRatio, DatasetImageInvalid, DatasetImageTooLarge,
    DatasetLabelInvalid, DatasetLabelClassOutOfRange, DatasetAnnotationsInvalid, DatasetFormatUnrecognized,
    LabelmapMissing, LabelmapInvalid, MetadataWriteFailed, IdempotencyKeyInvalid,
)  # fmt: skip


@router.get("")
def list_datasets(layout: LayoutDep) -> list[dict[str, Any]]:
    """Every dataset (registry, SAM3 and Qwen roots), newest first; reads metadata only, never writes."""
    return listing.list_datasets(layout)


UPLOAD_BODY = multipart_body(
    {
        "dataset_id": "Id of the dataset to create (letters, digits, . _ -); default: the zip's name. A taken id "
        "gets _1, _2 ... and the answer says so (warning dataset_id_taken).",
        "dataset_type": "bbox (default) or seg.",
        "context": "Free text describing the dataset (kept in its metadata).",
        "label": "Display label (default: the id).",
    },
    files={"file": "The dataset zip, in one of the accepted layouts (see the API guide)."},
    required=("file",),
)


@router.post("/upload", responses=responses(*UPLOAD_ERRORS), openapi_extra=UPLOAD_BODY)
async def upload_dataset(request: Request, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Upload a dataset zip (multipart `file`; form `dataset_id`, `dataset_type` bbox|seg, `context`, `label`).

    Accepts YOLO (split or flat, bbox or seg polygons), COCO `_annotations.coco.json` per split and the
    Qwen JSONL layout. The body is streamed to disk; the zip is checked, extracted to staging and only a
    fully valid dataset is moved into place. Returns the dataset metadata.

    With an `Idempotency-Key` header (or form field `idempotency_key`), a retry of an upload that already
    succeeded (say the answer was lost with a dropped connection) returns that dataset's metadata."""
    key = request.headers.get("idempotency-key")
    if key:
        done = await run_in_threadpool(ingest.previous_upload, layout, key)
        if done is not None:
            await drain(request)
            return done
    form, folder = await receive_upload(request, layout, settings.max_upload_bytes)
    assert form.path is not None
    meta = await run_in_threadpool(
        ingest.ingest_received,
        form.path,
        folder,
        layout=layout,
        options=upload_options(form, key),
        limits=zip_limits(settings),
    )
    return with_ignored_form_fields(meta, form.fields)


@router.delete("/{dataset_id}", responses=responses(InvalidId, DatasetNotFound, DatasetDeleteForbidden))
def delete_dataset(dataset_id: str, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Move a dataset (by id or signature) to the trash: `{status: "deleted", id, trash_id}`."""
    return trash.trash_dataset(layout, dataset_id, retention_s=settings.dataset_trash_retention_s)


@router.get("/{dataset_id}/download", responses=responses(InvalidId, DatasetNotFound, DatasetExportFailed))
def download_dataset(dataset_id: str, layout: LayoutDep) -> StreamingResponse:
    """The dataset folder as `<id>.zip`, streamed while it is built (derived views are left out)."""
    name, chunks = export.export_zip(layout, dataset_id)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)


@router.get("/{dataset_id}/check", responses=responses(InvalidId, DatasetNotFound))
def check_dataset(dataset_id: str, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Counts, boxes per class and every problem found (decodes each image; changes nothing)."""
    return check.check_dataset(layout, dataset_id, max_pixels=settings.image_max_pixels)


@router.post(
    "/{dataset_id}/build/qwen",
    responses=responses(InvalidId, DatasetNotFound, DatasetNotYoloReady, LabelmapMissing, MetadataWriteFailed),
)
def build_qwen_dataset(dataset_id: str, layout: LayoutDep) -> dict[str, Any]:
    """Build a Qwen JSONL dataset (a new id under the Qwen root) from a YOLO-ready dataset."""
    return export.build_qwen(layout, dataset_id)

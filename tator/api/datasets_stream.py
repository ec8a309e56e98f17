"""Streaming request bodies to disk for the dataset routes (multipart uploads and raw session chunks).

The event loop only moves bytes: chunks are gathered to about 1 MiB and every disk write runs in the
threadpool, so a multi-gigabyte upload neither blocks other requests nor sits in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tator.datasets.ingest import UploadOptions
from tator.datasets.multipart import MultipartReceiver, ReceivedForm, boundary_of
from tator.datasets.sessions import ChunkWriter
from tator.datasets.zipsafe import ZipLimits
from tator.errors import DatasetUploadFileMissing
from tator.settings import Settings
from tator.storage.files import remove_tree
from tator.storage.layout import Layout

BATCH_BYTES = 1024 * 1024


def zip_limits(settings: Settings) -> ZipLimits:
    """Extraction limits: a member up to the upload limit, all members up to TATOR_ZIP_MAX_EXTRACTED_BYTES (and
    4x the upload limit); every member and the archive as a whole within the zip-bomb ratio."""
    total = min(settings.zip_max_extracted_bytes, 4 * settings.max_upload_bytes)
    return ZipLimits(
        max_entry_bytes=min(settings.max_upload_bytes, total),
        max_total_bytes=total,
        max_image_pixels=settings.image_max_pixels,
    )


async def pump(request: Request, write: Callable[[bytes], None]) -> None:
    """Feed the request body to `write` in ~1 MiB pieces, each written from the threadpool."""
    batch = bytearray()
    async for chunk in request.stream():
        batch += chunk
        if len(batch) >= BATCH_BYTES:
            await run_in_threadpool(write, bytes(batch))
            batch.clear()
    if batch:
        await run_in_threadpool(write, bytes(batch))


async def pump_chunk(request: Request, writer: ChunkWriter) -> dict[str, Any]:
    """Write a session chunk from the body; the writer is closed (and its lock released) whatever happens."""
    try:
        await pump(request, writer.write)
    finally:
        status = await run_in_threadpool(writer.close)
    return status


def incoming_dir(layout: Layout) -> Path:
    """A fresh staging folder for one upload (removed by the ingest step or on failure)."""
    path = layout.root("dataset_uploads") / f"staging-{uuid.uuid4().hex}"
    path.mkdir()
    return path


async def receive_upload(request: Request, layout: Layout, max_bytes: int) -> tuple[ReceivedForm, Path]:
    """Stream a multipart upload: its `file` part lands in a staging folder, returned with the form. A
    declared length over TATOR_MAX_UPLOAD_BYTES never gets here (tator/api/body_limit.py refuses it)."""
    boundary = boundary_of(request.headers.get("content-type"))
    folder = await run_in_threadpool(incoming_dir, layout)
    receiver = MultipartReceiver(boundary, folder / "upload.zip", max_file_bytes=max_bytes)
    try:
        await pump(request, receiver.feed)
        form = receiver.finish()
        if form.path is None:
            raise DatasetUploadFileMissing("the upload has no 'file' part")
    except BaseException:
        receiver.close()
        await run_in_threadpool(remove_tree, folder)
        raise
    return form, folder


UPLOAD_FORM_FIELDS = frozenset({"dataset_id", "label", "dataset_type", "context", "idempotency_key"})


def with_ignored_form_fields(answer: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """The upload answer naming the form fields the server does not know (ignored, not refused)."""
    ignored = sorted(name[:100] for name in fields if name not in UPLOAD_FORM_FIELDS)
    if not ignored:
        return answer
    return {**answer, "ignored_fields": ignored, "warnings": [*answer.get("warnings", []), "ignored_fields"]}


async def drain(request: Request) -> None:
    """Read and drop the rest of a body (a retried upload already done), so the connection stays usable."""
    async for _chunk in request.stream():
        pass


def upload_options(form: ReceivedForm, idempotency_key: str | None = None) -> UploadOptions:
    fields = form.fields
    return UploadOptions(
        idempotency_key=idempotency_key or fields.get("idempotency_key") or None,
        dataset_id=fields.get("dataset_id") or None,
        label=fields.get("label") or None,
        dataset_type=(fields.get("dataset_type") or "bbox").strip().lower(),
        context=fields.get("context") or "",
        filename=form.filename,
    )

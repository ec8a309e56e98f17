"""Receiving and sending recipe/cascade bundles: a multipart `file` part or a raw zip body, streamed to a hidden
file in the store (never past the archive cap), and export zips streamed then deleted."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from tator.api.datasets_stream import pump
from tator.bundles.install import discard
from tator.bundles.manifest import BundleLimits
from tator.datasets.multipart import MultipartReceiver, boundary_of
from tator.errors import DatasetUploadFileMissing, TatorError, UploadTooLarge
from tator.settings import Settings

ZIP_MEDIA_TYPES = frozenset({"application/zip", "application/x-zip-compressed"})


def bundle_limits(settings: Settings) -> BundleLimits:
    return BundleLimits(
        max_archive_bytes=settings.bundle_max_bytes,
        max_total_bytes=settings.bundle_max_extracted_bytes,
        max_entry_bytes=settings.bundle_max_entry_bytes,
        max_members=settings.bundle_max_members,
        max_image_pixels=settings.image_max_pixels,
    )


def _incoming(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    return root / f".staging-{uuid.uuid4().hex}.zip"


def _check_declared(request: Request, max_bytes: int) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 1024 * 1024:
        raise UploadTooLarge(f"the archive exceeds {max_bytes} bytes", limit_bytes=max_bytes)


async def receive_multipart(request: Request, root: Path, max_bytes: int) -> Path:
    """The `file` part of a multipart body, written to a hidden file under `root` (the caller discards it)."""
    _check_declared(request, max_bytes)
    target = _incoming(root)
    receiver = MultipartReceiver(boundary_of(request.headers.get("content-type")), target, max_file_bytes=max_bytes)
    try:
        await pump(request, receiver.feed)
        form = receiver.finish()
        if form.path is None:
            raise DatasetUploadFileMissing("send the archive as a multipart 'file' part")
    except BaseException:
        receiver.close()
        await run_in_threadpool(discard, target)
        raise
    return target


class _RawWriter:
    def __init__(self, target: Path, max_bytes: int) -> None:
        self.out = open(target, "xb")  # noqa: SIM115 - closed by receive_raw whatever happens
        self.size = 0
        self.max_bytes = max_bytes

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise UploadTooLarge(f"the archive exceeds {self.max_bytes} bytes", limit_bytes=self.max_bytes)
        self.out.write(chunk)


async def receive_raw(request: Request, root: Path, max_bytes: int, media_error: type[TatorError]) -> Path:
    """A raw zip body (Content-Type application/zip, else `media_error`, 415), written to a hidden file."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media not in ZIP_MEDIA_TYPES:
        raise media_error("send the archive as the body with Content-Type: application/zip", content_type=media[:100])
    _check_declared(request, max_bytes)
    target = _incoming(root)
    writer = _RawWriter(target, max_bytes)
    try:
        await pump(request, writer.write)
    except BaseException:
        writer.out.close()
        await run_in_threadpool(discard, target)
        raise
    writer.out.close()
    return target


def zip_download(path: Path, filename: str) -> FileResponse:
    """Stream an export zip, then delete it."""
    return FileResponse(path, media_type="application/zip", filename=filename, background=BackgroundTask(discard, path))

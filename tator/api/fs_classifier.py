"""`/fs/upload_classifier`: store a classifier head (safe `.npz`, or a legacy pickle converted on upload).

The body is streamed: the `file` part goes straight to a hidden file in the classifiers folder, never
past the byte limit (or what is left of the folder quota), and that file is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from tator.api.datasets_stream import pump
from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.openapi_docs import multipart_body
from tator.api.routing import IndexedRouter
from tator.clip.legacy_child import ChildLimits
from tator.clip.uploads import UploadBudget, store_classifier, upload_budget
from tator.datasets.multipart import MultipartReceiver, ReceivedForm, boundary_of
from tator.errors import (
    ClassifierFormatUnsafe,
    ClassifierLoadFailed,
    FilenameRequired,
    MultipartInvalid,
    UploadContentTypeInvalid,
    UploadExists,
    UploadExtensionNotAllowed,
    UploadFilenameInvalid,
    UploadQuotaExceeded,
    UploadTooLarge,
)

router = IndexedRouter(prefix="/fs", tags=["fs"])


async def _receive(request: Request, staged: Path, budget: UploadBudget) -> ReceivedForm:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > budget.limit + 1024 * 1024:
        raise budget.too_large(UploadTooLarge(f"upload exceeds {budget.limit} bytes", limit_bytes=budget.limit))
    receiver = MultipartReceiver(boundary_of(request.headers.get("content-type")), staged, max_file_bytes=budget.limit)
    try:
        await pump(request, receiver.feed)
        form = receiver.finish()
    except UploadTooLarge as exc:
        raise budget.too_large(exc) from exc
    finally:
        receiver.close()
    if form.path is None:
        raise FilenameRequired("send the head as a multipart 'file' part with a file name")
    return form


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


@router.post(
    "/upload_classifier",
    responses=responses(FilenameRequired, UploadFilenameInvalid, UploadExtensionNotAllowed, UploadExists,
                        UploadTooLarge, UploadQuotaExceeded, UploadContentTypeInvalid, MultipartInvalid,
                        ClassifierFormatUnsafe, ClassifierLoadFailed),
    openapi_extra=multipart_body(
        {}, files={"file": "The head: .npz (with its .json metadata inside) or a legacy .pkl/.joblib."},
        required=("file",),
    ),
)  # fmt: skip
async def upload_classifier(request: Request, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Save a classifier head (multipart `file`) under uploads/classifiers: `{path}`. A `.npz` head is
    validated; a legacy `.pkl`/`.joblib` is accepted only if it is a plain LogisticRegression (read without
    running code) and is stored converted to `.npz`; anything else is refused with `classifier_format_unsafe`.
    Never overwrites (409 upload_exists)."""
    root = layout.root("classifiers")
    limits = {"max_bytes": settings.max_upload_bytes, "quota_bytes": settings.max_upload_bytes}
    budget = await run_in_threadpool(lambda: upload_budget(root, **limits))
    staged = root / f".incoming-{uuid.uuid4().hex}"
    try:
        form = await _receive(request, staged, budget)
        child = ChildLimits(settings.legacy_head_memory_mb * 2**20, int(settings.legacy_head_timeout_s) + 1,
                            settings.legacy_head_timeout_s)  # fmt: skip
        return await run_in_threadpool(lambda: store_classifier(root, form.filename, staged, limits=child))
    finally:
        await run_in_threadpool(_discard, staged)

"""Qwen dataset routes: list, delete, and the chunked upload (init, chunk, finalize, cancel)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import File, Form, UploadFile

from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.errors import (
    DatasetDeleteForbidden,
    DatasetImageInvalid,
    DatasetImageTooLarge,
    DatasetUploadSessionBusy,
    InvalidId,
    InvalidRelativePath,
    QwenDatasetAnnotationInvalid,
    QwenDatasetEmpty,
    QwenDatasetJobNotFound,
    QwenDatasetNotFound,
    QwenDatasetSplitInvalid,
    UploadTooLarge,
)
from tator.qwen import datasets

router = IndexedRouter(prefix="/qwen", tags=["qwen"])

_JOB = Annotated[str, Form(description="The upload's job_id from /qwen/dataset/init")]


@router.get("/datasets")
def list_qwen_datasets(layout: LayoutDep) -> list[dict[str, Any]]:
    """Qwen-ready datasets (the `/datasets` entries with train/val annotations.jsonl)."""
    return datasets.list_qwen_datasets(layout)


@router.delete("/datasets/{dataset_id}", responses=responses(QwenDatasetNotFound, DatasetDeleteForbidden, InvalidId))
def delete_qwen_dataset(dataset_id: str, layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Delete a Qwen-ready dataset (it goes to the datasets' trash: GET /datasets/trash)."""
    return datasets.delete_qwen_dataset(layout, dataset_id, retention_s=settings.dataset_trash_retention_s)


@router.post("/dataset/init", responses=responses(InvalidId))
def init_upload(
    layout: LayoutDep,
    run_name: Annotated[str | None, Form(description="Dataset id to create at finalize (optional)")] = None,
) -> dict[str, Any]:
    """Open a chunked Qwen dataset upload; returns its `job_id`."""
    return datasets.init_upload(layout, run_name or None)


@router.post(
    "/dataset/chunk",
    responses=responses(
        QwenDatasetJobNotFound, QwenDatasetSplitInvalid, QwenDatasetAnnotationInvalid, InvalidRelativePath,
        DatasetImageInvalid, DatasetImageTooLarge, UploadTooLarge, DatasetUploadSessionBusy,
    ),
)  # fmt: skip
def add_chunk(
    layout: LayoutDep,
    settings: SettingsDep,
    job_id: _JOB,
    split: Annotated[str, Form(description="train or val")],
    image_name: Annotated[str, Form(description="Bare image file name (no folders)")],
    file: Annotated[UploadFile, File(description="The image")],
    annotation_line: Annotated[str, Form(description="JSONL record: {detections: [{label, bbox xyxy px}]}")] = "",
) -> dict[str, Any]:
    """Add (or replace) one image and its annotation line."""
    return datasets.add_chunk(
        layout, job_id, split, image_name, annotation_line, file.file,
        max_bytes=settings.image_max_bytes, max_pixels=settings.image_max_pixels,
    )  # fmt: skip


@router.post(
    "/dataset/finalize",
    responses=responses(QwenDatasetJobNotFound, QwenDatasetEmpty, QwenDatasetAnnotationInvalid, InvalidId),
)
def finalize_upload(
    layout: LayoutDep,
    job_id: _JOB,
    metadata: Annotated[str | None, Form(description="JSON: {context, labelmap_glossary, label, id}")] = None,
    run_name: Annotated[str | None, Form(description="Dataset id (overrides init's run_name)")] = None,
) -> dict[str, Any]:
    """Create the dataset from the staged images (validated like any upload); returns its metadata."""
    return datasets.finalize_upload(layout, job_id, metadata, run_name or None)


@router.post("/dataset/cancel", responses=responses(QwenDatasetJobNotFound))
def cancel_upload(layout: LayoutDep, job_id: _JOB) -> dict[str, Any]:
    """Discard a chunked upload."""
    return datasets.cancel_upload(layout, job_id)

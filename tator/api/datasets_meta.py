"""Per-dataset glossary and text labels (captions)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import LayoutDep
from tator.api.errors import responses
from tator.datasets import service
from tator.errors import (
    CaptionNotFound,
    CaptionTooLarge,
    DatasetNotFound,
    GlossaryTooLarge,
    InvalidId,
    InvalidRelativePath,
    MetadataWriteFailed,
    PathOutsideDataDir,
)

router = APIRouter(prefix="/datasets", tags=["datasets"])


# The UI's bodies predate this server: unknown fields are ignored rather than refused.
class DatasetGlossaryRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    glossary: str | dict[str, Any] | list[Any] | None = None


class TextLabelRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    caption: str = ""


class TextLabelsBatchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    image_names: list[str] | None = Field(default=None, max_length=10_000)
    caption: str | None = None


CAPTION_ERRORS = (InvalidId, DatasetNotFound, InvalidRelativePath, PathOutsideDataDir)


@router.get("/{dataset_id}/glossary", responses=responses(InvalidId, DatasetNotFound))
def get_dataset_glossary(dataset_id: str, layout: LayoutDep) -> dict[str, Any]:
    """The dataset's glossary text (empty when none)."""
    return service.get_glossary(layout, dataset_id)


@router.post(
    "/{dataset_id}/glossary", responses=responses(InvalidId, DatasetNotFound, GlossaryTooLarge, MetadataWriteFailed)
)
def set_dataset_glossary(dataset_id: str, body: DatasetGlossaryRequest, layout: LayoutDep) -> dict[str, Any]:
    """Save the glossary (text, or a JSON object/list kept as JSON text) into the dataset's metadata."""
    return service.set_glossary(layout, dataset_id, body.glossary)


@router.post("/{dataset_id}/text_labels/batch", responses=responses(*CAPTION_ERRORS, CaptionTooLarge))
def text_labels_batch(dataset_id: str, body: TextLabelsBatchRequest, layout: LayoutDep) -> dict[str, Any]:
    """Read many captions at once (`{image_names}`). A `{caption}` body instead saves the caption of the
    image literally named `batch`, which the reference could not address."""
    if body.image_names is None and body.caption is not None:
        return service.set_caption(layout, dataset_id, "batch", body.caption)
    return service.get_captions(layout, dataset_id, body.image_names or [])


@router.get("/{dataset_id}/text_labels/{image_name:path}", responses=responses(*CAPTION_ERRORS, CaptionNotFound))
def get_text_label(dataset_id: str, image_name: str, layout: LayoutDep) -> dict[str, str]:
    """The caption of one image (`text_labels/<image stem>.txt`)."""
    return service.get_caption(layout, dataset_id, image_name)


@router.post("/{dataset_id}/text_labels/{image_name:path}", responses=responses(*CAPTION_ERRORS, CaptionTooLarge))
def set_text_label(dataset_id: str, image_name: str, body: TextLabelRequest, layout: LayoutDep) -> dict[str, str]:
    """Save (trimmed) or, when empty, remove the caption of one image."""
    return service.set_caption(layout, dataset_id, image_name, body.caption)

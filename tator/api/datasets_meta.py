"""Per-dataset glossary and text labels (captions)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tator.api.deps import LayoutDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
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

router = IndexedRouter(prefix="/datasets", tags=["datasets"])


# The UI's bodies predate this server: unknown fields are ignored (and named in the answer), not refused.
# The field a write replaces is required: a body without it (a typo) must not erase the saved value.
class DatasetGlossaryRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    glossary: str | dict[str, Any] | list[Any] | None = Field(
        description="The glossary: text, or a JSON object/list kept as JSON text. Required; an empty string "
        "or null clears it.",
        examples=["car: any passenger car\ntruck: lorries and pickups"],
    )


class TextLabelRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    caption: str = Field(description="The caption text (trimmed). Required; an empty string removes the caption.")


class TextLabelsBatchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    image_names: list[str] | None = Field(
        default=None, max_length=10_000, description="Image names (relative paths) whose captions to read."
    )
    caption: str | None = Field(
        default=None, description="Instead of image_names: save this caption for the image literally named `batch`."
    )

    @model_validator(mode="after")
    def _one_of(self) -> TextLabelsBatchRequest:
        if self.image_names is None and self.caption is None:
            raise ValueError("send image_names (to read captions) or caption")
        return self


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

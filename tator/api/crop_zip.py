"""Crop zips: images with boxes arrive in chunks, crops are kept on disk, finalize streams `crops.zip`.

`POST /crop_zip_finalize` is the route to use; `GET /crop_zip_finalize` stays for the existing UI (it
has the same effect, including deleting the job, which a GET should not have: it is deprecated).
"""

from __future__ import annotations

from fastapi import Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import ImagesDep, LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.datasets import crop_zip
from tator.errors import (
    CropZipJobNotFound,
    CropZipTooLarge,
    ImageBase64TooLarge,
    ImageBytesTooLarge,
    ImagePayloadMissing,
    ImagePixelsTooLarge,
    InvalidBase64,
    InvalidImage,
)

router = IndexedRouter(tags=["crop_zip"])


class CropZipBox(BaseModel):
    model_config = ConfigDict(extra="ignore")
    className: str = Field(  # noqa: N815 - the UI's field name
        default="object", max_length=512, description="Class name, used in the crop's file name."
    )
    x: float = Field(description="Left edge, pixels of the image as sent.")
    y: float = Field(description="Top edge, pixels of the image as sent.")
    width: float = Field(ge=0, description="Box width in pixels (>= 0; a negative size is refused).")
    height: float = Field(ge=0, description="Box height in pixels (>= 0; a negative size is refused).")


class CropZipImage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    image_base64: str = Field(description="The image: base64 of the encoded file, or a data URL.")
    originalName: str = Field(  # noqa: N815 - the UI's field name
        default="image", max_length=1024, description="The image's file name (crop names derive from its stem)."
    )
    bboxes: list[CropZipBox] = Field(
        default_factory=list, max_length=10_000, description="Boxes to crop, pixel x, y, width, height."
    )


class CropZipChunkRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    images: list[CropZipImage] = Field(max_length=1000, description="Images of this chunk with their boxes (required).")


class CropZipChunkResponse(BaseModel):
    status: str
    count: int
    crops: int
    total_crops: int


IMAGE_ERRORS = (
    ImagePayloadMissing,
    InvalidBase64,
    InvalidImage,
    ImageBase64TooLarge,
    ImageBytesTooLarge,
    ImagePixelsTooLarge,
)


@router.post("/crop_zip_init")
def crop_zip_init(layout: LayoutDep) -> dict[str, str]:
    """Start a crop-zip job: `{jobId}`."""
    return crop_zip.init_job(layout.root("crop_zips"))


@router.post(
    "/crop_zip_chunk", response_model=CropZipChunkResponse,
    responses=responses(CropZipJobNotFound, CropZipTooLarge, *IMAGE_ERRORS),
)  # fmt: skip
def crop_zip_chunk(
    body: CropZipChunkRequest,
    layout: LayoutDep,
    images: ImagesDep,
    settings: SettingsDep,
    jobId: str = Query(),  # noqa: N803
) -> CropZipChunkResponse:
    """Crop every box (pixel x, y, width, height; clipped) of each image into the job; `count` = images."""
    items = [
        crop_zip.CropImage(i.image_base64, i.originalName, [crop_zip.CropBox(b.className, b.x, b.y, b.width, b.height)
                                                           for b in i.bboxes])
        for i in body.images
    ]  # fmt: skip
    result = crop_zip.add_chunk(
        layout.root("crop_zips"), jobId, items, limits=images.limits, max_bytes=settings.max_upload_bytes
    )
    return CropZipChunkResponse(**result)


def _finalize(layout: LayoutDep, job_id: str) -> StreamingResponse:
    chunks = crop_zip.finalize_job(layout.root("crop_zips"), job_id)
    headers = {"Content-Disposition": "attachment; filename=crops.zip"}
    return StreamingResponse(chunks, media_type="application/x-zip-compressed", headers=headers)


@router.post("/crop_zip_finalize", responses=responses(CropZipJobNotFound))
def crop_zip_finalize(layout: LayoutDep, jobId: str = Query()) -> StreamingResponse:  # noqa: N803
    """Stream `crops.zip` (`<stem>-<className>-<index>.jpg` per box) and delete the job."""
    return _finalize(layout, jobId)


@router.get("/crop_zip_finalize", responses=responses(CropZipJobNotFound), deprecated=True)
def crop_zip_finalize_get(layout: LayoutDep, jobId: str = Query()) -> StreamingResponse:  # noqa: N803
    """Deprecated GET form of `POST /crop_zip_finalize`, kept for the existing UI (same effect)."""
    return _finalize(layout, jobId)

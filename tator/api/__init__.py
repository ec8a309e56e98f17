"""The web layer: the only package that imports fastapi or starlette."""

from __future__ import annotations

from fastapi import APIRouter

from tator.api import (
    calibration,
    crop_zip,
    datasets,
    datasets_image_sessions,
    datasets_meta,
    datasets_sessions,
    datasets_trash,
    detectors,
    fs_upload,
    glossaries,
    jobs,
    prepass_jobs,
    rfdetr,
    system,
    yolo,
)
from tator.api.clip_routes import router as clip_router
from tator.api.qwen import router as qwen_router
from tator.api.sam3 import concept as sam3_concept
from tator.api.sam3 import interactive as sam_interactive
from tator.api.sam3 import models as sam3_models
from tator.api.sam3 import preload as sam_preload
from tator.api.sam3 import prompt_helper as sam3_prompt_helper
from tator.api.sam3 import train as sam3_train
from tator.api.yolo_graft import router as yolo_graft_router


def build_api_router() -> APIRouter:
    """The only place that lists the domain routers."""
    router = APIRouter()
    router.include_router(system.router)
    router.include_router(jobs.router)
    router.include_router(datasets_image_sessions.router)  # before the {session_id} routes
    router.include_router(datasets_sessions.router)
    router.include_router(datasets_trash.router)  # before /datasets/{dataset_id}
    router.include_router(datasets.router)
    router.include_router(datasets_meta.router)
    router.include_router(glossaries.router)
    router.include_router(crop_zip.router)
    router.include_router(fs_upload.router)
    router.include_router(yolo.router)
    router.include_router(yolo_graft_router)
    router.include_router(rfdetr.router)
    router.include_router(detectors.router)
    router.include_router(clip_router)
    router.include_router(sam_preload.router)
    router.include_router(sam_interactive.router)
    router.include_router(sam3_concept.router)
    router.include_router(sam3_models.router)
    router.include_router(sam3_train.router)
    router.include_router(sam3_prompt_helper.router)
    router.include_router(qwen_router)
    router.include_router(calibration.router)
    router.include_router(prepass_jobs.router)
    return router

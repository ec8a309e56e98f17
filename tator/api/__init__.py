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
    segmentation,
    system,
    yolo,
)
from tator.api.agent_mining import router as agent_mining_router
from tator.api.agent_mining_apply import router as agent_mining_apply_router
from tator.api.agent_mining_recipes import cascades_router as agent_cascades_router
from tator.api.agent_mining_recipes import recipes_router as agent_recipes_router
from tator.api.clip_routes import router as clip_router
from tator.api.prepass_recipes import router as prepass_recipes_router
from tator.api.qwen import router as qwen_router
from tator.api.sam3 import concept as sam3_concept
from tator.api.sam3 import interactive as sam_interactive
from tator.api.sam3 import models as sam3_models
from tator.api.sam3 import preload as sam_preload
from tator.api.sam3 import prompt_helper as sam3_prompt_helper
from tator.api.sam3 import train as sam3_train
from tator.api.yolo_graft import router as yolo_graft_router


def api_routers() -> tuple[APIRouter, ...]:
    """The only place that lists the domain routers, in matching order. The app includes each one
    directly: one nesting level fewer for FastAPI to walk per request (tator.api.routing)."""
    return (
        system.router,
        jobs.router,
        datasets_image_sessions.router,  # before the {session_id} routes
        datasets_sessions.router,
        datasets_trash.router,  # before /datasets/{dataset_id}
        datasets.router,
        datasets_meta.router,
        glossaries.router,
        crop_zip.router,
        fs_upload.router,
        yolo.router,
        yolo_graft_router,
        rfdetr.router,
        detectors.router,
        clip_router,
        sam_preload.router,
        sam_interactive.router,
        sam3_concept.router,
        sam3_models.router,
        sam3_train.router,
        sam3_prompt_helper.router,
        qwen_router,
        segmentation.router,
        agent_mining_router,
        agent_mining_apply_router,
        prepass_recipes_router,
        agent_recipes_router,
        agent_cascades_router,
        prepass_jobs.router,
        calibration.router,
    )

"""The web layer: the only package that imports fastapi or starlette."""

from __future__ import annotations

from fastapi import APIRouter

from tator.api import jobs, system


def build_api_router() -> APIRouter:
    """The only place that lists the domain routers."""
    router = APIRouter()
    router.include_router(system.router)
    router.include_router(jobs.router)
    return router

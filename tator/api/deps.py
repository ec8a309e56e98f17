"""Annotated dependency aliases: every route reads shared state through these.

The getters are `async def` on purpose: FastAPI runs a plain `def` dependency in the thread pool, one thread
hop per dependency per request (four on a detector predict), for what is an attribute read. Dependencies
that touch the disk or may build something stay plain `def`."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from tator.jobs.manager import JobManager
from tator.runtime.images import ImageCache
from tator.runtime.registry import ModelRegistry
from tator.settings import Settings
from tator.state import AppState
from tator.storage.layout import Layout


async def get_state(request: Request) -> AppState:
    return cast(AppState, request.state.tator)


StateDep = Annotated[AppState, Depends(get_state)]


async def get_settings(state: StateDep) -> Settings:
    return state.settings


async def get_registry(state: StateDep) -> ModelRegistry:
    return state.registry


async def get_jobs(state: StateDep) -> JobManager:
    return state.jobs


async def get_layout(state: StateDep) -> Layout:
    return state.layout


async def get_images(state: StateDep) -> ImageCache:
    return state.images


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
JobsDep = Annotated[JobManager, Depends(get_jobs)]
LayoutDep = Annotated[Layout, Depends(get_layout)]
ImagesDep = Annotated[ImageCache, Depends(get_images)]

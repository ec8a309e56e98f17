"""Annotated dependency aliases: every route reads shared state through these."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from tator.jobs.manager import JobManager
from tator.runtime.images import ImageCache
from tator.runtime.registry import ModelRegistry
from tator.settings import Settings
from tator.state import AppState
from tator.storage.layout import Layout


def get_state(request: Request) -> AppState:
    return cast(AppState, request.state.tator)


StateDep = Annotated[AppState, Depends(get_state)]


def get_settings(state: StateDep) -> Settings:
    return state.settings


def get_registry(state: StateDep) -> ModelRegistry:
    return state.registry


def get_jobs(state: StateDep) -> JobManager:
    return state.jobs


def get_layout(state: StateDep) -> Layout:
    return state.layout


def get_images(state: StateDep) -> ImageCache:
    return state.images


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
JobsDep = Annotated[JobManager, Depends(get_jobs)]
LayoutDep = Annotated[Layout, Depends(get_layout)]
ImagesDep = Annotated[ImageCache, Depends(get_images)]

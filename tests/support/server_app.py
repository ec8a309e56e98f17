"""An app factory for subprocess tests: the real app plus a route that starts a slow job and one that fails."""

from __future__ import annotations

import time

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from tator.api.deps import JobsDep
from tator.app import create_app
from tator.jobs.context import JobContext
from tator.jobs.types import JobRecord
from tator.settings import Settings


class SleepParams(BaseModel):
    seconds: float = 60.0


def sleep_job(params: SleepParams, ctx: JobContext) -> dict[str, float]:
    started = time.monotonic()
    while time.monotonic() - started < params.seconds:
        ctx.checkpoint()
        ctx.progress(min(0.99, (time.monotonic() - started) / params.seconds), "sleeping")
        time.sleep(0.05)
    return {"slept": params.seconds}


def create() -> FastAPI:
    app = create_app(Settings(), loaders={})
    router = APIRouter()

    @router.post("/test/sleep_job", response_model=JobRecord)
    def start_sleep_job(body: SleepParams, jobs: JobsDep) -> JobRecord:
        return jobs.submit("test.sleep", sleep_job, body)

    @router.get("/test/crash")
    def crash() -> None:
        """Fails with an unexpected error (the 500 path)."""
        raise RuntimeError("a bug, on purpose")

    app.include_router(router)
    return app

"""The composition root: `create_app(settings)` wires state, routers, middleware and error handlers."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from tator import __version__
from tator.api import api_routers, docs_page
from tator.api.body_limit import BodyLimitMiddleware, json_limit
from tator.api.errors import install_error_handlers
from tator.api.guards import LOCALHOST_ORIGINS, HostPolicy, OriginPolicy, PublicPaths, RequestGuardMiddleware
from tator.api.ignored_fields import install_ignored_fields_notice
from tator.api.metrics import HttpMetrics
from tator.api.middleware import RequestContextMiddleware, TokenAuthMiddleware
from tator.api.openapi_docs import install_openapi
from tator.logging import configure_logging, redact_server_logs
from tator.offline import configure_model_libraries
from tator.runtime import heap
from tator.runtime.loaders import Loader
from tator.settings import Settings
from tator.state import AppState, build_state

log = logging.getLogger(__name__)


def default_loaders() -> dict[str, Loader]:
    """The production loader of every model family (their modules import no heavy library)."""
    from tator.clip import loader as clip_loader
    from tator.qwen import loader as qwen_loader
    from tator.rfdetr import loader as rfdetr_loader
    from tator.sam3 import loader as sam3_loader
    from tator.yolo import loader as yolo_loader

    return {
        "yolo": yolo_loader.load,
        "rfdetr": rfdetr_loader.load,
        "sam3": sam3_loader.load_sam3,
        "sam3_tracker": sam3_loader.load_sam3_tracker,
        "sam1": sam3_loader.load_sam1,
        "clip": clip_loader.load_clip,
        "dinov3": clip_loader.load_dinov3,
        "qwen": qwen_loader.load,
    }


def _warm_base_models(state: AppState) -> None:
    # The tiny zoo takes seconds to build on first use; build it behind the server's back.
    def warm() -> None:
        try:
            state.base_models()
        except Exception:
            log.exception("zoo.warm_failed")

    threading.Thread(target=warm, name="tator-zoo-warm", daemon=True).start()


def _operation_id(route: APIRoute) -> str:
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(settings: Settings, *, loaders: Mapping[str, Loader] | None = None) -> FastAPI:
    """Build the FastAPI app. Nothing heavy happens here or at start-up: models load on first use."""
    configure_logging(settings.log_level, settings.logs_dir)
    configure_model_libraries(settings.uploads_dir / ".model_config", offline=settings.offline)
    metrics = HttpMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, AppState]]:
        redact_server_logs()  # uvicorn has configured its loggers by now
        if settings.heap_tuning:
            heap.tune_for_inference()
        state = build_state(settings, loaders if loaders is not None else default_loaders())
        metrics.add_gauges(lambda: _state_gauges(state))
        app.state.tator = state
        if settings.model_zoo == "tiny":
            _warm_base_models(state)
        log.info("server.started data_dir=%s zoo=%s device=%s", settings.data_dir, settings.model_zoo, settings.device)
        try:
            yield {"tator": state}
        finally:
            state.close()
            log.info("server.stopped")

    app = FastAPI(
        title="Tator", version=__version__, lifespan=lifespan, generate_unique_id_function=_operation_id,
        docs_url=None, redoc_url=None,  # served by tator.api.docs_page without a CDN
        description=docs_page.DESCRIPTION,
    )  # fmt: skip
    app.state.metrics = metrics
    app.state.settings = settings
    install_error_handlers(app)
    for router in api_routers():
        app.include_router(router)
    install_ignored_fields_notice(app)
    install_openapi(app)
    docs_page.install_docs(app)
    if settings.ui_dir is not None:
        app.mount("/", StaticFiles(directory=settings.ui_dir, html=True, check_dir=False), name="ui")
    else:
        app.include_router(docs_page.root_router)

    app.add_middleware(
        BodyLimitMiddleware,
        upload_bytes=settings.max_upload_bytes,
        other_bytes=settings.max_json_bytes or json_limit(settings.image_max_bytes),
    )
    if settings.api_token:
        public = PublicPaths(
            settings.ui_dir, lambda: app.router.routes, pages=docs_page.PUBLIC_PAGES, prefix=docs_page.PUBLIC_PREFIX
        )
        app.add_middleware(TokenAuthMiddleware, token=settings.api_token, is_public=public)
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    origins = list(settings.cors_origins) + (["null"] if settings.cors_allow_null_origin else [])
    app.add_middleware(
        RequestGuardMiddleware,
        hosts=HostPolicy(settings.host, settings.allowed_hosts),
        origins=OriginPolicy(settings.cors_origins, allow_null=settings.cors_allow_null_origin),
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_origin_regex=None if settings.cors_origins else LOCALHOST_ORIGINS,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=["X-Request-ID", "Content-Disposition", "Server-Timing"],
    )
    return app


def _state_gauges(state: AppState) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    models = state.registry.describe()
    return {
        "tator_jobs": {(("status", status),): float(n) for status, n in state.jobs.counts().items()},
        "tator_jobs_active": {(): float(state.jobs.active_count())},
        "tator_models_loaded": {(): float(len(models))},
        "tator_models_loaded_bytes": {(("key", m.key), ("device", m.device)): float(m.bytes) for m in models},
        "tator_image_cache_bytes": {(): float(state.images.nbytes)},
    }

"""System and runtime routes: health, GPU, storage, metrics, and dropping loaded models."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.errors import ModelBusy, ModelFamilyUnknown, ModelLoadFailed, ModelWeightsUnavailable
from tator.health import base_model_report, health_summary, preload_base, storage_report
from tator.runtime.gpu_report import gpu_report

router = IndexedRouter(tags=["system"])


class ModelPreloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    family: str = Field(
        description="Model family whose base model to load now: yolo, rfdetr, sam3, clip, dinov3, qwen."
    )


class RuntimeUnloadResponse(BaseModel):
    status: str
    unloaded: list[str]
    sam_embeddings_cleared: int = Field(0, description="Cached SAM image embeddings dropped (preload slots emptied)")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answers as soon as the server accepts requests, on the event loop itself (no thread
    pool trip), so it still answers while every worker thread is busy with long requests."""
    return {"status": "ok"}


@router.get("/system/gpu")
def system_gpu() -> dict[str, Any]:
    """CUDA devices with memory and capability; never errors (an `error` field says why none)."""
    return gpu_report()


@router.get("/system/storage_check")
def system_storage_check(state: StateDep) -> dict[str, Any]:
    """Create and probe every storage root; a symlinked root is reported, never written through."""
    return storage_report(state)


@router.get("/system/health_summary")
def system_health_summary(state: StateDep) -> dict[str, Any]:
    """GPU, storage, datasets, models and jobs in one report; partial failures listed in `errors`."""
    return health_summary(state)


@router.post("/runtime/unload", response_model=RuntimeUnloadResponse)
def runtime_unload(state: StateDep) -> RuntimeUnloadResponse:
    """Drop every loaded model and cached SAM embedding; selections stay and reload on next use."""
    unloaded = state.registry.unload_all()
    return RuntimeUnloadResponse(status="unloaded", unloaded=unloaded, sam_embeddings_cleared=state.sam.clear())


@router.get("/models")
def loaded_models(state: StateDep) -> dict[str, Any]:
    """What is loaded now (key, device, bytes, last use) and what each slot has selected."""
    items = [asdict(d) for d in state.registry.describe()]
    selected = {
        slot: {"family": s.spec.family, "source": s.spec.source, "key": s.spec.key, **s.meta}
        for slot, s in state.selections.all().items()
    }
    return {"items": items, "total": len(items), "selected": selected}


@router.get("/models/base")
def base_models(state: StateDep) -> dict[str, dict[str, Any]]:
    """Family -> its base model: `source` (hub id, release name, or tiny-zoo path with TATOR_MODEL_ZOO=tiny),
    `local` and `path` (weights on this machine), `origin` and `downloads_allowed`."""
    return base_model_report(state)


@router.post(
    "/models/preload", responses=responses(ModelFamilyUnknown, ModelLoadFailed, ModelWeightsUnavailable, ModelBusy)
)
def preload_base_model(body: ModelPreloadRequest, state: StateDep) -> dict[str, Any]:
    """Load a family's base model now (warm-up before annotating); later requests find it resident."""
    return asdict(preload_base(state, body.family))


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4")

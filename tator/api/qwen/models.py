"""Qwen model selection and runtime routes: models, activate, status, settings, unload, progress, cancel."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tator.api.errors import responses
from tator.api.qwen.deps import QwenDep
from tator.api.routing import IndexedRouter
from tator.errors import (
    ModelIdRequired,
    QwenModelMissingCheckpoint,
    QwenModelNotFound,
    QwenPlatformUnavailable,
    QwenSettingsInvalid,
    QwenTemplateInvalid,
)
from tator.qwen import models, service
from tator.qwen.settings import settings_view, update_settings

router = IndexedRouter(prefix="/qwen", tags=["qwen"])


class QwenActivateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_id: str | None = Field(default=None, description="`default`, another base model id or a fine-tune's run id")


class QwenSettingsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trust_remote_code: bool | None = Field(default=None, description="Allow a checkpoint's own code; unloads Qwen")
    inference_platform: Literal["auto", "transformers", "mlx_vlm"] | None = Field(
        default=None, description="Inference backend; only transformers is installed here (auto = transformers)"
    )
    mlx_model_id: str | None = Field(default=None, description="Model id for mlx_vlm (Apple silicon only)")
    min_pixels: int | None = Field(default=None, ge=1, description="Smallest image area (pixels) fed to the model")
    max_pixels: int | None = Field(default=None, ge=1, description="Largest image area (pixels) fed to the model")
    bbox_template: str | None = Field(
        default=None, description="Item prompt for bbox/bbox_sam; must hold {items}, {image_type}, {extra_context}"
    )
    point_template: str | None = Field(
        default=None, description="Item prompt for point; must hold {items}, {image_type}, {extra_context}"
    )


@router.get("/models")
def list_models(qwen: QwenDep) -> dict[str, Any]:
    """The base model(s) and every fine-tuned adapter with its metadata; `active` is the selected id."""
    return models.list_models(qwen.catalog, qwen.selections)


@router.post("/models/activate", responses=responses(ModelIdRequired, QwenModelNotFound, QwenModelMissingCheckpoint))
def activate_model(body: QwenActivateRequest, qwen: QwenDep) -> dict[str, Any]:
    """Select the model Qwen routes use (persisted); it is loaded on next use."""
    ref = models.activate(qwen.catalog, qwen.selections, body.model_id or "", qwen.settings())
    return {"active": ref.id, "metadata": ref.view(ref.id)["metadata"]}


@router.get("/status")
def qwen_status(qwen: QwenDep) -> dict[str, Any]:
    """Dependencies, the active model, whether it is loaded, limits and the last error."""
    return service.status(qwen)


@router.get("/settings")
def get_settings(qwen: QwenDep) -> dict[str, Any]:
    """Runtime Qwen settings (persisted)."""
    return settings_view(qwen.settings())


@router.post("/settings", responses=responses(QwenTemplateInvalid, QwenPlatformUnavailable, QwenSettingsInvalid))
def post_settings(body: QwenSettingsRequest, qwen: QwenDep) -> dict[str, Any]:
    """Partial update (absent fields keep their value); changing trust_remote_code unloads Qwen."""
    before, after = update_settings(qwen.runs_root, body.model_dump(exclude_none=True))
    if before.trust_remote_code != after.trust_remote_code:
        qwen.unload()
    return settings_view(after)


@router.post("/unload")
def unload(qwen: QwenDep) -> dict[str, Any]:
    """Drop the loaded Qwen weights; the active selection stays and reloads on next use."""
    return {"status": "unloaded", "unloaded": qwen.unload()}


@router.get("/progress")
def progress(qwen: QwenDep) -> dict[str, Any]:
    """Running generations: tokens so far, budget, elapsed time; `last` is the latest finished one."""
    return qwen.runtime.progress()


@router.post("/cancel")
def cancel(qwen: QwenDep, force: bool = False) -> dict[str, Any]:
    """Stop every running Qwen generation at its next token (`force` is accepted; it changes nothing)."""
    stopped = qwen.runtime.cancel()
    return {"status": "cancelling", "cancelled": len(stopped), "generations": stopped, "force": force}

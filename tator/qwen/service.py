"""What the Qwen routes share: the catalog, the active model, status, unload and a leased, bounded model.

Every Qwen model is loaded through the one model registry (family `qwen`); generation holds an exclusive
lease, so two requests never decode on the same weights at once and an unload waits for the lease.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tator.errors import ModelLoadFailed, ModelWeightsUnavailable, QwenLoadFailed, QwenModelUnsupported
from tator.qwen.loader import QwenHandle
from tator.qwen.models import QwenCatalog, QwenModelRef, active_model, model_spec
from tator.qwen.runtime import QwenRuntime
from tator.qwen.settings import QwenSettings, load_settings
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QwenLimits:
    default_max_new_tokens: int
    max_new_tokens_limit: int
    timeout_s: float
    min_pixels: int
    max_pixels: int
    max_windows: int


@dataclass(frozen=True)
class QwenContext:
    """Everything a Qwen operation needs, as plain values (built per request from the app state)."""

    registry: ModelRegistry
    selections: ModelSelections
    runtime: QwenRuntime
    catalog: QwenCatalog
    limits: QwenLimits
    device: str

    @property
    def runs_root(self) -> Path:
        return self.catalog.runs_root

    def settings(self) -> QwenSettings:
        return load_settings(self.runs_root)

    def pixels(self, settings: QwenSettings) -> tuple[int, int]:
        low = settings.min_pixels or self.limits.min_pixels
        high = settings.max_pixels or self.limits.max_pixels
        return min(low, high), high

    def max_new_tokens(self, requested: int | None) -> int:
        return max(1, min(requested or self.limits.default_max_new_tokens, self.limits.max_new_tokens_limit))

    def resolve(self, model_id: str | None) -> QwenModelRef:
        """`model_id` when given, else the active model."""
        return self.catalog.find(model_id) if model_id else active_model(self.catalog, self.selections)

    @contextmanager
    def lease(self, ref: QwenModelRef) -> Iterator[QwenHandle]:
        """The loaded model of `ref`, held exclusively; load failures become `qwen_load_failed` (503)."""
        spec = model_spec(ref, self.settings())
        try:
            with self.registry.use(spec) as handle:
                self.runtime.last_error = None
                yield handle
        except (ModelLoadFailed, QwenModelUnsupported, ModelWeightsUnavailable) as exc:
            self.runtime.last_error = exc.message
            if isinstance(exc, QwenModelUnsupported | ModelWeightsUnavailable):
                raise  # already a clear code (weights missing names the model and how to provide it)
            raise QwenLoadFailed(exc.message, model_id=ref.id) from exc

    def unload(self) -> list[str]:
        """Drop every loaded Qwen model (the selection stays)."""
        keys = [d.key for d in self.registry.describe() if d.family == "qwen"]
        for key in keys:
            self.registry.unload(key)
        return keys


def dependency_error() -> str | None:
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    return f"missing: {', '.join(missing)}" if missing else None


def status(ctx: QwenContext) -> dict[str, Any]:
    """`/qwen/status`: dependencies, what is active, whether it is loaded, limits and the last error."""
    settings = ctx.settings()
    ref = active_model(ctx.catalog, ctx.selections)
    spec = model_spec(ref, settings)
    loaded = next((d for d in ctx.registry.describe() if d.key == spec.key), None)
    missing = dependency_error()
    min_pixels, max_pixels = ctx.pixels(settings)
    progress = ctx.runtime.progress()
    return {
        "available": missing is None,
        "loaded": loaded is not None,
        "model_name": ref.source,
        "model_family": ref.family,
        "device": loaded.device if loaded else ctx.device,
        "max_new_tokens": ctx.limits.default_max_new_tokens,
        "max_new_tokens_limit": ctx.limits.max_new_tokens_limit,
        "min_pixels": min_pixels,
        "max_pixels": max_pixels,
        "last_error": ctx.runtime.last_error,
        "dependency_error": missing,
        "active_model": ref.id,
        "active_metadata": ref.view(ref.id)["metadata"],
        "inference_platform": "transformers",
        "busy": progress["running"],
    }

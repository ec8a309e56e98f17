"""The Qwen context every Qwen route receives (catalog, limits, registry, runtime), built from the app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tator.api.deps import StateDep
from tator.qwen.models import QwenCatalog
from tator.qwen.service import QwenContext, QwenLimits


def get_qwen(state: StateDep) -> QwenContext:
    settings = state.settings
    base = settings.qwen_base_model or state.base_models()["qwen"]
    catalog = QwenCatalog(base, tuple(settings.qwen_extra_models), state.layout.root("qwen_runs"))
    limits = QwenLimits(
        default_max_new_tokens=min(settings.qwen_max_new_tokens, settings.qwen_max_new_tokens_limit),
        max_new_tokens_limit=settings.qwen_max_new_tokens_limit,
        timeout_s=settings.qwen_generation_timeout_s,
        min_pixels=settings.qwen_min_pixels,
        max_pixels=settings.qwen_max_pixels,
        max_windows=settings.qwen_max_caption_windows,
    )
    return QwenContext(state.registry, state.selections, state.qwen_runtime, catalog, limits, settings.device)


QwenDep = Annotated[QwenContext, Depends(get_qwen)]

"""The Qwen context every Qwen route receives (catalog, limits, registry, runtime), built from the app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tator.api.deps import StateDep
from tator.qwen.service import QwenContext


def get_qwen(state: StateDep) -> QwenContext:
    return state.qwen()


QwenDep = Annotated[QwenContext, Depends(get_qwen)]

"""Dependencies of the SAM routes: the SAM runtime (embedding cache + slots) and the base model sources."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tator.api.deps import StateDep
from tator.sam3.interactive import SamRuntime


async def get_sam(state: StateDep) -> SamRuntime:
    return state.sam


SamDep = Annotated[SamRuntime, Depends(get_sam)]

"""The dependency every classifier route shares: where heads and labelmaps live, how backbones resolve."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tator.api.deps import StateDep
from tator.clip.active import ClipPlaces


def get_clip_places(state: StateDep) -> ClipPlaces:
    layout = state.layout
    return ClipPlaces(
        classifiers=layout.root("classifiers"),
        labelmaps=layout.root("labelmaps"),
        data_dir=layout.uploads_dir,
        base_models=state.base_models,
        tiny=state.settings.model_zoo == "tiny",
    )


ClipPlacesDep = Annotated[ClipPlaces, Depends(get_clip_places)]

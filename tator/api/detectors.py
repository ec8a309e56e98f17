"""The preferred detector family (`/detectors/default`), a persisted preference."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tator.api.deps import StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.errors import DetectorModeInvalid
from tator.runtime.selections import default_detector, set_default_detector

router = IndexedRouter(prefix="/detectors", tags=["detectors"])


class DetectorDefault(BaseModel):
    mode: str = Field(description="Preferred detector family: yolo or rfdetr.")


@router.get("/default", response_model=DetectorDefault)
def get_default(state: StateDep) -> DetectorDefault:
    """The preferred detector family (rfdetr unless set)."""
    return DetectorDefault(mode=default_detector(state.selections))


@router.post("/default", response_model=DetectorDefault, responses=responses(DetectorModeInvalid))
def set_default(body: DetectorDefault, state: StateDep) -> DetectorDefault:
    """Set the preferred detector family: yolo or rfdetr."""
    return DetectorDefault(mode=set_default_detector(state.selections, body.mode))

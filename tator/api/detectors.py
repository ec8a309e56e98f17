"""The preferred detector family (`/detectors/default`)."""

from __future__ import annotations

import json
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from tator.api.deps import LayoutDep
from tator.api.errors import responses
from tator.errors import DetectorModeInvalid
from tator.storage.files import atomic_write_json

router = APIRouter(prefix="/detectors", tags=["detectors"])
DEFAULT_MODE = "rfdetr"
MODES = ("yolo", "rfdetr")


class DetectorDefault(BaseModel):
    mode: str = Field(description="Preferred detector family: yolo or rfdetr.")


@router.get("/default", response_model=DetectorDefault)
def get_default(layout: LayoutDep) -> DetectorDefault:
    """The preferred detector family (rfdetr unless set)."""
    path = layout.root("uploads") / "detectors" / "default.json"
    try:
        mode = json.loads(path.read_text(encoding="utf-8")).get("mode")
    except (OSError, ValueError, AttributeError):
        mode = None
    return DetectorDefault(mode=mode if mode in MODES else DEFAULT_MODE)


@router.post("/default", response_model=DetectorDefault, responses=responses(DetectorModeInvalid))
def set_default(body: DetectorDefault, layout: LayoutDep) -> DetectorDefault:
    """Set the preferred detector family: yolo or rfdetr."""
    mode: Literal["yolo", "rfdetr"] | str = body.mode.strip().lower()
    if mode not in MODES:
        raise DetectorModeInvalid("mode must be yolo or rfdetr", mode=body.mode[:32])
    atomic_write_json(layout.root("uploads") / "detectors" / "default.json", {"mode": mode})
    return DetectorDefault(mode=mode)

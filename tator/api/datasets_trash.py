"""The dataset trash: what `DELETE /datasets/{id}` moved aside, and bringing it back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import LayoutDep, SettingsDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.datasets import trash
from tator.errors import DatasetExists, DatasetTrashNotFound, InvalidId

router = IndexedRouter(prefix="/datasets", tags=["datasets"])


class TrashListResponse(BaseModel):
    items: list[dict[str, Any]] = Field(description="trashed datasets, newest first (trashed_at, expires_at: unix s)")
    total: int = Field(description="number of items")
    retention_s: float = Field(description="seconds a trashed dataset is kept before it is removed for good")


class RestoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: str | None = Field(default=None, description="restore under this id instead of the original one")


@router.get("/trash", response_model=TrashListResponse)
def list_trash(layout: LayoutDep, settings: SettingsDep) -> TrashListResponse:
    """Deleted datasets still in the trash (expired ones are removed first)."""
    retention = settings.dataset_trash_retention_s
    items = trash.list_trash(layout, retention_s=retention)
    return TrashListResponse(items=items, total=len(items), retention_s=retention)


@router.post("/trash/{trash_id}/restore", responses=responses(InvalidId, DatasetTrashNotFound, DatasetExists))
def restore_dataset(trash_id: str, layout: LayoutDep, body: RestoreRequest | None = None) -> dict[str, Any]:
    """Bring a trashed dataset back under its old id (or `dataset_id`); 409 when that id is taken."""
    return trash.restore_dataset(layout, trash_id, body.dataset_id if body else None)

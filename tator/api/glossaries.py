"""The named glossary library: reusable label -> synonyms texts shared across datasets and recipes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import LayoutDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.datasets import glossary_library
from tator.errors import (
    GlossaryNameConflict,
    GlossaryNameInvalid,
    GlossaryNameRequired,
    GlossaryNotFound,
    GlossarySaveFailed,
    GlossaryTooLarge,
)

router = IndexedRouter(prefix="/glossaries", tags=["glossaries"])

NAME_ERRORS = (GlossaryNameRequired, GlossaryNameInvalid)


class GlossarySaveRequest(BaseModel):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"name": "vehicles", "glossary": "car: passenger cars\ntruck: lorries"}]},
    )  # the UI's body predates this server
    name: str = Field(default="", description="Glossary name (its file name; letters, digits, space, . _ -).")
    glossary: str | dict[str, Any] | list[Any] | None = Field(
        description="The glossary: text, or a JSON object/list. Required, so a typo cannot erase a saved one."
    )


@router.get("")
def list_glossaries(layout: LayoutDep) -> list[dict[str, Any]]:
    """Saved glossaries: `[{name, preview, updated_at}]` sorted by name."""
    return glossary_library.list_glossaries(layout.root("glossaries"))


@router.get("/{name}", responses=responses(*NAME_ERRORS, GlossaryNotFound))
def get_glossary(name: str, layout: LayoutDep) -> dict[str, Any]:
    """One glossary: `{name, glossary}`."""
    return glossary_library.get_glossary(layout.root("glossaries"), name)


@router.post("", responses=responses(*NAME_ERRORS, GlossaryNameConflict, GlossaryTooLarge, GlossarySaveFailed))
def save_glossary(body: GlossarySaveRequest, layout: LayoutDep) -> dict[str, Any]:
    """Create or replace a named glossary (written atomically)."""
    return glossary_library.save_glossary(layout.root("glossaries"), body.name, body.glossary)


@router.delete("/{name}", responses=responses(*NAME_ERRORS, GlossaryNotFound))
def delete_glossary(name: str, layout: LayoutDep) -> dict[str, Any]:
    """Delete a named glossary."""
    return glossary_library.delete_glossary(layout.root("glossaries"), name)

"""The bundle manifest (`manifest.json` at the top of every recipe/cascade zip) and the per-kind error codes.

`{schema_version, kind, name, created, assets: [{path, role, size, sha256}], references: [...], extra: {...}}`:
`assets` are the files shipped in the zip (every member but the manifest is listed, with its exact size and
SHA-256); `references` are things named but not shipped (a detector run whose weights are a pickle), resolved
against local data on import; `extra` is kind-specific JSON (the recipe record itself travels as an asset).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tator.errors import TatorError

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA_VERSION = 1
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class BundleAsset(BaseModel):
    """One shipped file: its posix path inside the zip, what it is for, and its exact size and digest."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=1024, description="posix path inside the zip")
    role: str = Field(min_length=1, max_length=64, description="what the file is (recipe, glossary, head ...)")
    size: int = Field(ge=0, description="bytes")
    sha256: str = Field(pattern=SHA256_PATTERN, description="hex SHA-256 of the file")


class BundleReference(BaseModel):
    """Something the bundle names but does not ship (e.g. a detector run with pickle weights)."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=64, description="what it is (yolo_run, rfdetr_run ...)")
    id: str = Field(min_length=1, max_length=256, description="its id on the exporting server")
    file: str | None = Field(default=None, max_length=256, description="the file the digest is of")
    sha256: str | None = Field(default=None, pattern=SHA256_PATTERN, description="digest of that file")


class Manifest(BaseModel):
    """The manifest of one bundle."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = Field(description="manifest schema version")
    kind: str = Field(min_length=1, max_length=64, description="prepass_recipe | agent_recipe | agent_cascade")
    name: str = Field(max_length=512, description="display name of what the bundle carries")
    created: str = Field(max_length=64, description="ISO-8601 UTC time of the export")
    assets: list[BundleAsset] = Field(default_factory=list, max_length=100_000, description="shipped files")
    references: list[BundleReference] = Field(default_factory=list, max_length=1000, description="named only")
    missing: list[str] = Field(default_factory=list, max_length=1000, description="assets the exporter lacked")
    extra: dict[str, Any] = Field(default_factory=dict, description="kind-specific metadata")


@dataclass(frozen=True)
class BundleErrors:
    """The error class a kind answers with for each way an archive can be refused (codes stay per route)."""

    invalid: type[TatorError]  # not a zip, corrupt, encrypted, special or duplicate members
    path: type[TatorError]  # traversal, absolute or symlink members
    too_large: type[TatorError]  # over the size / member caps, zip bombs
    manifest: type[TatorError]  # manifest.json absent, not JSON, wrong kind or shape
    schema: type[TatorError]  # unsupported manifest schema_version
    manifest_path: type[TatorError]  # a manifest asset path that is not a safe relative path
    missing: type[TatorError]  # a listed asset not in the archive
    mismatch: type[TatorError]  # size / sha256 differs, or an unlisted member
    unsafe: type[TatorError]  # a file type that could run code on load

    def all(self) -> tuple[type[TatorError], ...]:
        """Every distinct error class of the set (for a route's documented responses)."""
        return tuple(dict.fromkeys(getattr(self, f.name) for f in fields(self)))


@dataclass(frozen=True)
class BundleLimits:
    """Caps checked from the zip's central directory before anything is written, then again on the bytes."""

    max_archive_bytes: int
    max_total_bytes: int
    max_entry_bytes: int
    max_members: int
    max_image_pixels: int = 64_000_000  # crops and other images inside


def first_problem(exc: ValidationError) -> tuple[str, str]:
    """(dotted field path, message) of a validation error's first problem, for a one-line 400 message."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"])[:200], str(first["msg"])

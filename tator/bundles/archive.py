"""Write and read the one bundle format: a zip of data-only files plus `manifest.json` with every size and digest.

Reading checks everything before anything is installed: the archive and member caps and every member name
(the zip-safety planner of `tator.datasets.zipsafe`: traversal, absolute, symlink, special, duplicate and
oversized members, zip bombs), then the manifest (shape, kind, schema version, every asset path), then that
the members are exactly the listed assets with the listed sizes, then extracts into a fresh staging folder,
re-checks each file's SHA-256 and bytes (`tator.bundles.content`). The caller installs the staging folder with
one rename; on any refusal the staging folder is removed and nothing else was written.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from tator.bundles.content import UnsafeContent, allowed_name, check_file
from tator.bundles.manifest import (
    MANIFEST_NAME,
    MANIFEST_SCHEMA_VERSION,
    MAX_MANIFEST_BYTES,
    BundleAsset,
    BundleErrors,
    BundleLimits,
    BundleReference,
    Manifest,
    first_problem,
)
from tator.datasets import zipsafe
from tator.errors import (
    DatasetImageInvalid,
    DatasetImageTooLarge,
    DatasetZipAbsolutePath,
    DatasetZipCompressionRatio,
    DatasetZipEntryTooLarge,
    DatasetZipPathTraversal,
    DatasetZipSymlinkUnsupported,
    DatasetZipTooManyEntries,
    DatasetZipUncompressedTooLarge,
    InvalidRelativePath,
    TatorError,
)
from tator.storage.files import file_sha256, remove_tree
from tator.storage.paths import check_relative

_PATH_ERRORS = (DatasetZipPathTraversal, DatasetZipAbsolutePath, DatasetZipSymlinkUnsupported)
_SIZE_ERRORS = (DatasetZipEntryTooLarge, DatasetZipUncompressedTooLarge, DatasetZipTooManyEntries,
                DatasetZipCompressionRatio)  # fmt: skip
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BundleFile:
    """A file to ship: its path inside the zip, its role, and its bytes (in memory or on disk)."""

    path: str
    role: str
    source: Path | bytes


def _digest(source: Path | bytes) -> tuple[int, str]:
    if isinstance(source, bytes):
        return len(source), hashlib.sha256(source).hexdigest()
    return source.stat().st_size, file_sha256(source)


def _clean(path: str) -> bool:
    try:
        return check_relative(path).as_posix() == path
    except InvalidRelativePath:
        return False


def write_bundle(
    dest: Path,
    *,
    kind: str,
    name: str,
    files: Sequence[BundleFile],
    references: Sequence[BundleReference] = (),
    missing: Sequence[str] = (),
    extra: dict[str, object] | None = None,
) -> Manifest:
    """Write the bundle zip to `dest` (through a temp file and a rename) and return its manifest."""
    assets = []
    for item in files:
        if not _clean(item.path) or not allowed_name(item.path):
            raise ValueError(f"bundle path {item.path!r} is not a clean relative path of an allowed type")
        size, sha256 = _digest(item.source)
        assets.append(BundleAsset(path=item.path, role=item.role, size=size, sha256=sha256))
    manifest = Manifest(
        schema_version=MANIFEST_SCHEMA_VERSION, kind=kind, name=name,
        created=datetime.now(UTC).isoformat(timespec="seconds"), assets=assets,
        references=list(references), missing=list(missing), extra=dict(extra or {}),
    )  # fmt: skip
    temp = dest.with_name(f".{dest.name}.partial")
    try:
        with zipfile.ZipFile(temp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST_NAME, manifest.model_dump_json(indent=1))
            for item in files:
                if isinstance(item.source, bytes):
                    zf.writestr(item.path, item.source)
                else:
                    zf.write(item.source, item.path)
        temp.replace(dest)
    finally:
        temp.unlink(missing_ok=True)
    return manifest


def _plan(zf: zipfile.ZipFile, limits: BundleLimits, errors: BundleErrors) -> dict[str, zipsafe.Member]:
    zip_limits = zipsafe.ZipLimits(
        max_entry_bytes=limits.max_entry_bytes, max_total_bytes=limits.max_total_bytes,
        max_image_pixels=limits.max_image_pixels, max_entries=limits.max_members,
    )  # fmt: skip
    try:
        members = zipsafe.plan(zf, zip_limits)
    except _PATH_ERRORS as exc:
        raise errors.path(exc.message, **exc.details) from exc
    except _SIZE_ERRORS as exc:
        raise errors.too_large(exc.message, **exc.details) from exc
    except TatorError as exc:
        raise errors.invalid(exc.message, **exc.details) from exc
    return {member.path.as_posix(): member for member in members}


def _read_manifest(zf: zipfile.ZipFile, member: zipsafe.Member | None, kind: str, errors: BundleErrors) -> Manifest:
    if member is None:
        raise errors.manifest(f"the archive has no {MANIFEST_NAME} at its top")
    if member.info.file_size > MAX_MANIFEST_BYTES:
        raise errors.manifest(f"{MANIFEST_NAME} is over {MAX_MANIFEST_BYTES} bytes")
    try:
        raw = json.loads(zf.read(member.info).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError, zipfile.BadZipFile, OSError) as exc:
        raise errors.manifest(f"{MANIFEST_NAME} is not UTF-8 JSON") from exc
    if not isinstance(raw, dict):
        raise errors.manifest(f"{MANIFEST_NAME} must be a JSON object")
    if raw.get("schema_version") != MANIFEST_SCHEMA_VERSION:
        raise errors.schema(
            f"manifest schema_version {str(raw.get('schema_version'))[:32]!r} is not {MANIFEST_SCHEMA_VERSION}",
            expected=MANIFEST_SCHEMA_VERSION,
        )
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        where, problem = first_problem(exc)
        raise errors.manifest(f"{MANIFEST_NAME} is malformed at {where}: {problem}", field=where) from exc
    if manifest.kind != kind:
        raise errors.manifest(f"this archive holds a {manifest.kind[:64]!r}, not a {kind!r}", kind=manifest.kind[:64])
    return manifest


def _check_assets(manifest: Manifest, members: dict[str, zipsafe.Member], errors: BundleErrors) -> None:
    listed: set[str] = set()
    for asset in manifest.assets:
        try:
            clean = check_relative(asset.path).as_posix()
        except InvalidRelativePath as exc:
            raise errors.manifest_path(
                f"asset path {asset.path[:200]!r}: {exc.message}", path=asset.path[:200]
            ) from exc
        if clean != asset.path or clean == MANIFEST_NAME or clean in listed:
            raise errors.manifest_path(f"asset path {asset.path[:200]!r} is not canonical or repeats", path=clean[:200])
        listed.add(clean)
        if not allowed_name(clean):
            raise errors.unsafe(f"{clean[:200]!r}: this file type is not allowed in a bundle", path=clean[:200])
        member = members.get(clean)
        if member is None:
            raise errors.missing(f"asset {clean[:200]!r} is listed but not in the archive", path=clean[:200])
        if member.info.file_size != asset.size:
            raise errors.mismatch(f"asset {clean[:200]!r} is {member.info.file_size} bytes, manifest says {asset.size}",
                                  path=clean[:200])  # fmt: skip
    unlisted = sorted(set(members) - listed - {MANIFEST_NAME})
    if unlisted:
        raise errors.mismatch(f"archive member {unlisted[0][:200]!r} is not in the manifest", path=unlisted[0][:200])


def _verify_files(manifest: Manifest, staging: Path, errors: BundleErrors) -> None:
    for asset in manifest.assets:
        path = staging.joinpath(*asset.path.split("/"))
        if path.stat().st_size != asset.size or file_sha256(path) != asset.sha256:
            raise errors.mismatch(f"asset {asset.path[:200]!r} does not match its sha256", path=asset.path[:200])
        try:
            check_file(path)
        except UnsafeContent as exc:
            raise errors.unsafe(str(exc), path=asset.path[:200]) from exc


def open_bundle(archive: Path, staging: Path, *, kind: str, limits: BundleLimits, errors: BundleErrors) -> Manifest:
    """Check `archive` whole, extract it into `staging` (created here, must not exist) and return its manifest.
    On any refusal `staging` is removed and the kind's error is raised."""
    if archive.stat().st_size > limits.max_archive_bytes:
        raise errors.too_large(
            f"the archive is over {limits.max_archive_bytes} bytes", limit_bytes=limits.max_archive_bytes
        )
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _plan(zf, limits, errors)
            manifest = _read_manifest(zf, members.get(MANIFEST_NAME), kind, errors)
            _check_assets(manifest, members, errors)
            staging.mkdir(parents=True)
            try:
                _extract(zf, list(members.values()), staging, limits, errors)
                _verify_files(manifest, staging, errors)
            except BaseException:
                remove_tree(staging)
                raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise errors.invalid(f"the archive is not a readable zip: {type(exc).__name__}") from exc
    return manifest


def _extract(
    zf: zipfile.ZipFile, members: list[zipsafe.Member], staging: Path, limits: BundleLimits, errors: BundleErrors
) -> None:
    zip_limits = zipsafe.ZipLimits(max_entry_bytes=limits.max_entry_bytes, max_total_bytes=limits.max_total_bytes,
                                   max_image_pixels=limits.max_image_pixels, workers=2)  # fmt: skip
    try:
        zipsafe.extract(zf, members, staging, zip_limits)
    except (DatasetImageInvalid, DatasetImageTooLarge) as exc:
        raise errors.unsafe(exc.message, **exc.details) from exc
    except TatorError as exc:  # corrupt members, lying headers
        raise errors.invalid(exc.message, **exc.details) from exc


def read_json_asset(staging: Path, path: str) -> object:
    """A JSON asset of a staged bundle (already checked to parse)."""
    return json.loads(staging.joinpath(*path.split("/")).read_text(encoding="utf-8"))

"""Safe zip extraction: every member is checked from the central directory before one byte is written.

Rejected, each with its own code: `..` traversal, absolute / drive / UNC names, names with control
characters or over-long components, symlinks and other special members, encrypted members, duplicate
(or file-vs-folder) members, overlapping entries, too many entries, an entry or the total over the
limits, and compression ratios typical of zip bombs. Extraction then re-checks the real byte counts
(headers can lie) and decodes every image. macOS junk (`__MACOSX/`, `._*`) and hidden names are skipped;
a single top-level folder is unwrapped unless it is itself a split or an images/labels folder.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import zipfile
import zlib
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from tator.datasets.formats.model import canonical_split, is_image_name
from tator.datasets.imagecheck import DecodeBudget, ImageInfo, validate_image
from tator.errors import (
    DatasetZipAbsolutePath,
    DatasetZipCompressionRatio,
    DatasetZipDuplicateMember,
    DatasetZipEncryptedUnsupported,
    DatasetZipEntryTooLarge,
    DatasetZipInvalid,
    DatasetZipMemberNameInvalid,
    DatasetZipOverlappingEntries,
    DatasetZipPathTraversal,
    DatasetZipSpecialMemberUnsupported,
    DatasetZipSymlinkUnsupported,
    DatasetZipTooManyEntries,
    DatasetZipUncompressedTooLarge,
)

log = logging.getLogger(__name__)

MiB = 1024 * 1024
INLINE_BYTES = 32 * MiB  # members up to this size are read, validated and written in one piece
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini"})
_NO_UNWRAP = frozenset({"images", "labels"})


@dataclass(frozen=True)
class ZipLimits:
    max_entry_bytes: int
    max_total_bytes: int
    max_image_pixels: int
    max_entries: int = 1_000_000
    max_ratio: float = 200.0
    ratio_floor_bytes: int = 64 * 1024  # a member this small may compress as well as it likes ...
    archive_ratio_floor_bytes: int = 16 * MiB  # ... but the archive as a whole may not, past this size
    decode_budget_bytes: int = 256 * MiB
    workers: int = max(2, min(4, (os.cpu_count() or 2)))


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    path: PurePosixPath  # where it lands, relative to the destination (after unwrapping)


@dataclass
class Extracted:
    files: int = 0
    bytes: int = 0
    image_sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    fingerprint: list[tuple[str, int, int]] = field(default_factory=list)  # (path, size, crc32)


def _member_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    raw = info.orig_filename
    if _CONTROL.search(raw):
        raise DatasetZipMemberNameInvalid("zip member name contains control characters", member=repr(raw)[:200])
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise DatasetZipAbsolutePath(f"zip member {name[:200]!r} is an absolute path", member=name[:200])
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise DatasetZipPathTraversal(f"zip member {name[:200]!r} escapes the archive", member=name[:200])
    if len(name.encode("utf-8")) > 1024 or any(len(p.encode("utf-8")) > 255 for p in parts):
        raise DatasetZipMemberNameInvalid(
            "zip member name is too long (255 bytes a part, 1024 in all)", member=name[:200]
        )
    return parts


def _check_kind(info: zipfile.ZipInfo) -> None:
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise DatasetZipSymlinkUnsupported(
            f"zip member {info.filename[:200]!r} is a symlink", member=info.filename[:200]
        )
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise DatasetZipSpecialMemberUnsupported(f"zip member {info.filename[:200]!r} is not a regular file")
    if info.flag_bits & 0x1:
        raise DatasetZipEncryptedUnsupported(f"zip member {info.filename[:200]!r} is encrypted")


def _check_size(info: zipfile.ZipInfo, limits: ZipLimits) -> None:
    name = info.filename[:200]
    if info.file_size > limits.max_entry_bytes:
        raise DatasetZipEntryTooLarge(
            f"zip member {name!r} is {info.file_size} bytes, over {limits.max_entry_bytes}",
            member=name, limit_bytes=limits.max_entry_bytes,
        )  # fmt: skip
    if info.file_size > limits.ratio_floor_bytes:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            raise DatasetZipCompressionRatio(
                f"zip member {name!r} expands {ratio:.0f}x (limit {limits.max_ratio:.0f}x): refused as a zip bomb",
                member=name, ratio=round(ratio, 1),
            )  # fmt: skip


def _check_archive_ratio(total: int, packed: int, limits: ZipLimits) -> None:
    """Many members, each small enough to skip the per-member check, may still expand the archive as a whole."""
    ratio = total / max(packed, 1)
    if total > limits.archive_ratio_floor_bytes and ratio > limits.max_ratio:
        raise DatasetZipCompressionRatio(
            f"the archive expands {ratio:.0f}x as a whole (limit {limits.max_ratio:.0f}x): refused as a zip bomb",
            ratio=round(ratio, 1), scope="archive",
        )  # fmt: skip


def _is_junk(parts: tuple[str, ...]) -> bool:
    return parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts) or parts[-1].lower() in _JUNK_NAMES


def _check_overlaps(infos: list[zipfile.ZipInfo]) -> None:
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for current, following in zip(ordered, ordered[1:], strict=False):
        if current.header_offset + 30 + current.compress_size > following.header_offset:
            raise DatasetZipOverlappingEntries(
                f"zip members {current.filename[:100]!r} and {following.filename[:100]!r} overlap"
            )


def _unwrap(members: list[tuple[zipfile.ZipInfo, tuple[str, ...]]]) -> int:
    files = [parts for info, parts in members if not info.is_dir()]
    tops = {parts[0] for parts in files}
    if len(tops) != 1 or any(len(parts) < 2 for parts in files):
        return 0
    top = next(iter(tops))
    return 0 if canonical_split(top) or top.lower() in _NO_UNWRAP else 1


def plan(zf: zipfile.ZipFile, limits: ZipLimits) -> list[Member]:
    """Check every member and return the files to extract (dirs and junk dropped, one top folder unwrapped)."""
    infos = zf.infolist()
    if len(infos) > limits.max_entries:
        raise DatasetZipTooManyEntries(f"zip has {len(infos)} entries, over {limits.max_entries}")
    kept: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    seen: set[tuple[str, ...]] = set()
    total = packed = 0
    for info in infos:
        parts = _member_parts(info)
        _check_kind(info)
        _check_size(info, limits)
        total += info.file_size
        packed += info.compress_size
        if total > limits.max_total_bytes:
            raise DatasetZipUncompressedTooLarge(
                f"zip expands to over {limits.max_total_bytes} bytes", limit_bytes=limits.max_total_bytes
            )
        if not parts:
            continue
        if parts in seen and not info.is_dir():
            raise DatasetZipDuplicateMember(f"zip member {'/'.join(parts)[:200]!r} appears twice")
        seen.add(parts)
        if not _is_junk(parts):
            kept.append((info, parts))
    _check_overlaps(infos)  # after this, the members' compressed sizes add up to no more than the archive
    _check_archive_ratio(total, packed, limits)
    file_parts = {parts for info, parts in kept if not info.is_dir()}
    for parts in file_parts:
        if any(parts[:i] in file_parts for i in range(1, len(parts))):
            raise DatasetZipDuplicateMember(f"zip member {'/'.join(parts)[:200]!r} is both a file and a folder")
    strip = _unwrap(kept)
    return [Member(info, PurePosixPath(*parts[strip:])) for info, parts in kept if not info.is_dir()]


def _copy_member(zf: zipfile.ZipFile, member: Member, target: Path) -> bytes | None:
    """Write one member to `target`; returns its bytes when it was small enough to hold whole."""
    expected = member.info.file_size
    with zf.open(member.info) as src, open(target, "xb") as out:
        if expected <= INLINE_BYTES:
            data = src.read(expected + 1)
            if len(data) != expected:
                raise DatasetZipInvalid(f"zip member {member.info.filename[:200]!r} has the wrong size")
            out.write(data)
            return data
        written = 0
        while chunk := src.read(MiB):
            written += len(chunk)
            if written > expected:
                raise DatasetZipInvalid(f"zip member {member.info.filename[:200]!r} is longer than declared")
            out.write(chunk)
    return None


def _extract_one(
    zf: zipfile.ZipFile, member: Member, dest: Path, limits: ZipLimits, budget: DecodeBudget
) -> ImageInfo | None:
    target = dest.joinpath(*member.path.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    name = member.path.as_posix()
    try:
        data = _copy_member(zf, member, target)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise DatasetZipInvalid(f"zip member {name[:200]!r} is corrupt: {exc}", member=name[:200]) from exc
    if not is_image_name(name):
        return None
    return validate_image(data if data is not None else target, name, max_pixels=limits.max_image_pixels, budget=budget)


def extract(zf: zipfile.ZipFile, members: Iterable[Member], dest: Path, limits: ZipLimits) -> Extracted:
    """Extract planned members under `dest` (which must be empty), decoding images on a small thread pool.
    The first failure stops the work and is raised; the caller removes `dest`."""
    result = Extracted()
    budget = DecodeBudget(limits.decode_budget_bytes)
    pending: deque[tuple[Member, Future[ImageInfo | None]]] = deque()

    def collect(member: Member, future: Future[ImageInfo | None]) -> None:
        info = future.result()
        key = member.path.as_posix()
        result.files += 1
        result.bytes += member.info.file_size
        result.fingerprint.append((key, member.info.file_size, member.info.CRC))
        if info is not None:
            result.image_sizes[key] = (info.width, info.height)

    with ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="tator-unzip") as pool:
        try:
            for member in members:
                pending.append((member, pool.submit(_extract_one, zf, member, dest, limits, budget)))
                while len(pending) >= limits.workers * 2:
                    collect(*pending.popleft())
            while pending:
                collect(*pending.popleft())
        finally:
            for _, future in pending:
                future.cancel()
    return result

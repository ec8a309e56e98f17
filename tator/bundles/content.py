"""Which files a bundle may carry, and a check of each one's bytes: nothing that can run code when loaded.

Allowed: JSON, YAML and plain text (read as data, never with an object-building loader), images (decoded by
the zip extraction), safetensors (a JSON header plus raw tensors), XGBoost models as JSON or UBJSON, and
`.npz` archives that hold only `.npy` arrays of plain dtypes plus JSON (the classifier head format of
`tator.clip.head`). Pickles under any name (`.pt`, `.pth`, `.pkl`, `.joblib`, `.bin`, a pickle renamed
`.json` or a torch zip renamed `.npz`) are refused: a suffix alone never makes a file acceptable.
"""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np

TEXT_SUFFIXES = frozenset({".txt", ".md", ".csv", ".yaml", ".yml"})
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp"})
ALLOWED_SUFFIXES = TEXT_SUFFIXES | IMAGE_SUFFIXES | {".json", ".safetensors", ".ubj", ".npz"}
MAX_JSON_BYTES = 256 * 1024 * 1024
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
MAX_NPZ_MEMBERS = 4096
_PICKLE_PROTOCOLS = frozenset(range(2, 6))
_CHUNK = 1024 * 1024


class UnsafeContent(ValueError):
    """A file whose type or bytes are not one of the data-only formats above."""


def allowed_name(path: str) -> bool:
    """True when the file's suffix is one a bundle may carry (its bytes are checked separately)."""
    return PurePosixPath(path).suffix.lower() in ALLOWED_SUFFIXES


def _looks_pickled(head: bytes) -> bool:
    # Protocol 2+ pickles (every torch/joblib/sklearn file) start with PROTO (0x80) and the version byte.
    return len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS


def _check_json(path: Path) -> None:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise UnsafeContent(f"{path.name}: JSON over {MAX_JSON_BYTES} bytes")
    try:
        json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UnsafeContent(f"{path.name} is not UTF-8 JSON") from exc


def _check_text(path: Path) -> None:
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                raise UnsafeContent(f"{path.name} is not text")
    try:
        with open(path, encoding="utf-8") as text:
            while text.read(_CHUNK):
                pass
    except UnicodeDecodeError as exc:
        raise UnsafeContent(f"{path.name} is not UTF-8 text") from exc


def _check_safetensors(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        if len(prefix) != 8:
            raise UnsafeContent(f"{path.name} is too short for safetensors")
        (length,) = struct.unpack("<Q", prefix)
        if length > MAX_SAFETENSORS_HEADER or 8 + length > size:
            raise UnsafeContent(f"{path.name}: bad safetensors header length")
        try:
            header = json.loads(handle.read(length).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise UnsafeContent(f"{path.name}: safetensors header is not JSON") from exc
    if not isinstance(header, dict):
        raise UnsafeContent(f"{path.name}: safetensors header is not an object")
    body = size - 8 - length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise UnsafeContent(f"{path.name}: tensor {str(name)[:64]!r} has no data offsets")
        if not 0 <= offsets[0] <= offsets[1] <= body:
            raise UnsafeContent(f"{path.name}: tensor {str(name)[:64]!r} lies outside the file")


def _check_ubjson(path: Path) -> None:
    # XGBoost's UBJSON model starts with an object marker; the loader parses it as data, never as code.
    with open(path, "rb") as handle:
        if handle.read(1) != b"{":
            raise UnsafeContent(f"{path.name} is not an UBJSON object")


def _check_npy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, owner: str) -> None:
    with zf.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                _shape, _order, dtype = np.lib.format.read_array_header_1_0(member)
            elif version in ((2, 0), (3, 0)):
                _shape, _order, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise UnsafeContent(f"{owner}: {info.filename[:64]!r} has an unknown .npy version")
        except ValueError as exc:
            raise UnsafeContent(f"{owner}: {info.filename[:64]!r} is not a .npy array") from exc
    if dtype.hasobject:
        raise UnsafeContent(f"{owner}: {info.filename[:64]!r} holds Python objects (a pickle)")


def _check_npz(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_NPZ_MEMBERS:
                raise UnsafeContent(f"{path.name}: too many arrays")
            for info in infos:
                suffix = PurePosixPath(info.filename).suffix.lower()
                if suffix == ".npy":
                    _check_npy(zf, info, path.name)
                elif suffix != ".json" or info.file_size > MAX_JSON_BYTES:
                    raise UnsafeContent(f"{path.name}: member {info.filename[:64]!r} is neither .npy nor JSON")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UnsafeContent(f"{path.name} is not a readable .npz") from exc


_CHECKS: dict[str, Callable[[Path], None]] = {
    ".json": _check_json,
    ".safetensors": _check_safetensors,
    ".ubj": _check_ubjson,
    ".npz": _check_npz,
    **dict.fromkeys(TEXT_SUFFIXES, _check_text),
}


def check_file(path: Path) -> None:
    """Raise UnsafeContent unless `path` is an allowed, data-only file (images are checked by extraction)."""
    suffix = path.suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise UnsafeContent(f"{path.name}: {suffix or 'no suffix'} files are not allowed in a bundle")
    with open(path, "rb") as handle:
        if _looks_pickled(handle.read(2)):
            raise UnsafeContent(f"{path.name} is a pickle")
    check = _CHECKS.get(suffix)
    if check is not None:
        check(path)

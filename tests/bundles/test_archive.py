import hashlib
import io
import json
import pickle
import stat
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tator.bundles.archive import BundleFile, open_bundle, write_bundle
from tator.bundles.manifest import BundleErrors, BundleLimits, BundleReference
from tator.errors import TatorError
from tator.prepass.recipes_bundle import PREPASS_BUNDLE_ERRORS as E

LIMITS = BundleLimits(max_archive_bytes=1 << 20, max_total_bytes=1 << 20, max_entry_bytes=256 * 1024, max_members=16)
KIND = "prepass_recipe"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _npz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _safetensors() -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * 8


def _asset(path: str, data: bytes, role: str = "data") -> dict[str, Any]:
    return {"path": path, "role": role, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _archive(
    tmp: Path,
    members: dict[str, bytes],
    *,
    manifest: dict[str, Any] | None = None,
    listed: dict[str, bytes] | None = None,
    symlink: str | None = None,
) -> Path:
    """A zip of `members` whose manifest lists `listed` (default: the members), unless `manifest` is given."""
    listed = members if listed is None else listed
    doc = manifest if manifest is not None else {
        "schema_version": 1, "kind": KIND, "name": "r", "created": "2026-01-01T00:00:00+00:00",
        "assets": [_asset(p, d) for p, d in listed.items()],
    }  # fmt: skip
    path = tmp / "bundle.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(doc))
        for name, data in members.items():
            zf.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


def _open(tmp: Path, archive: Path) -> Any:
    return open_bundle(archive, tmp / "staging", kind=KIND, limits=LIMITS, errors=E)


def test_round_trip_keeps_every_file_and_digest(tmp_path: Path) -> None:
    head = _npz({"meta.json": b"{}", "layer0_weight.npy": _npy(np.ones((2, 3), np.float32))})
    src = tmp_path / "labelmap.txt"
    src.write_text("cat\ndog\n")
    files = [
        BundleFile("prepass.meta.json", "recipe", json.dumps({"id": "x"}).encode()),
        BundleFile("labelmap.txt", "labelmap", src),
        BundleFile("assets/head.npz", "classifier_head", head),
        BundleFile("assets/cal/model.safetensors", "calibrator", _safetensors()),
        BundleFile("assets/cal/model.ubj", "calibrator", b"{L\x00\x00"),
    ]
    ref = BundleReference(role="yolo_run", id="run1", file="best.pt", sha256="a" * 64)
    written = write_bundle(tmp_path / "out.zip", kind=KIND, name="r", files=files, references=[ref])
    manifest = _open(tmp_path, tmp_path / "out.zip")
    assert manifest.assets == written.assets and manifest.references == [ref]
    assert (tmp_path / "staging" / "assets" / "head.npz").read_bytes() == head
    assert (tmp_path / "staging" / "labelmap.txt").read_text() == "cat\ndog\n"


def test_write_refuses_a_pickle_or_an_unclean_path(tmp_path: Path) -> None:
    for path in ("weights/best.pt", "../x.json", "a/./b.json"):
        with pytest.raises(ValueError):
            write_bundle(tmp_path / "o.zip", kind=KIND, name="r", files=[BundleFile(path, "x", b"{}")])
    assert not (tmp_path / "o.zip").exists()


def _expect(tmp: Path, archive: Path, error: type[TatorError]) -> None:
    with pytest.raises(error):
        _open(tmp, archive)
    assert not (tmp / "staging").exists()


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ({"../evil.json": b"{}"}, E.path),
        ({"/etc/evil.json": b"{}"}, E.path),
        ({"big.txt": b"x" * (LIMITS.max_entry_bytes + 1)}, E.too_large),
        ({f"f{i}.txt": b"x" for i in range(LIMITS.max_members + 1)}, E.too_large),
        ({"best.pt": pickle.dumps({"a": 1})}, E.unsafe),
        ({"model.pkl": pickle.dumps([1])}, E.unsafe),
        ({"model.joblib": b"x"}, E.unsafe),
        ({"recipe.json": pickle.dumps({"a": 1})}, E.unsafe),
        ({"notes.txt": pickle.dumps("x", protocol=4)}, E.unsafe),
        ({"head.npz": _npz({"data.pkl": pickle.dumps(1)})}, E.unsafe),
        ({"head.npz": _npz({"a.npy": _npy(np.array([object()], dtype=object))})}, E.unsafe),
        ({"w.safetensors": struct.pack("<Q", 10**9) + b"{}"}, E.unsafe),
        ({"m.ubj": b"\x80\x04junk"}, E.unsafe),
        ({"bad.json": b"{not json"}, E.unsafe),
    ],
)
def test_hostile_members_are_refused_before_install(
    tmp_path: Path, members: dict[str, bytes], error: type[TatorError]
) -> None:
    _expect(tmp_path, _archive(tmp_path, members), error)


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    _expect(tmp_path, _archive(tmp_path, {"a.json": b"{}"}, symlink="link.json"), E.path)


def test_manifest_must_match_the_members(tmp_path: Path) -> None:
    good = {"a.json": b"{}"}
    _expect(tmp_path, _archive(tmp_path, good, listed={"a.json": b"[]"}), E.mismatch)  # sha256 differs
    _expect(tmp_path, _archive(tmp_path, good, listed={"a.json": b"{} "}), E.mismatch)  # size differs
    _expect(tmp_path, _archive(tmp_path, {**good, "b.json": b"{}"}, listed=good), E.mismatch)  # unlisted
    _expect(tmp_path, _archive(tmp_path, good, listed={**good, "c.json": b"1"}), E.missing)


def test_a_same_size_tampered_member_fails_the_digest(tmp_path: Path) -> None:
    archive = _archive(tmp_path, {"a.json": b"[1]"}, listed={"a.json": b"[2]"})
    _expect(tmp_path, archive, E.mismatch)


@pytest.mark.parametrize(
    ("manifest", "error"),
    [
        (["not", "a", "dict"], E.manifest),
        ({"schema_version": 2, "kind": KIND}, E.schema),
        ({"schema_version": 1, "kind": "agent_recipe", "name": "r", "created": "x"}, E.manifest),
        ({"schema_version": 1, "kind": KIND}, E.manifest),
        ({"schema_version": 1, "kind": KIND, "name": "r", "created": "x",
          "assets": [_asset("x/../a.json", b"{}")]}, E.manifest_path),
        ({"schema_version": 1, "kind": KIND, "name": "r", "created": "x",
          "assets": [_asset("/a.json", b"{}")]}, E.manifest_path),
    ],
)  # fmt: skip
def test_bad_manifests_are_refused(tmp_path: Path, manifest: Any, error: type[TatorError]) -> None:
    _expect(tmp_path, _archive(tmp_path, {"a.json": b"{}"}, manifest=manifest), error)


def test_no_manifest_or_no_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "plain.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.json", "{}")
    _expect(tmp_path, path, E.manifest)
    path.write_bytes(b"not a zip at all")
    _expect(tmp_path, path, E.invalid)


def test_archive_over_the_byte_cap_is_refused_unread(tmp_path: Path) -> None:
    archive = _archive(tmp_path, {"a.json": b"{}"})
    small = BundleLimits(max_archive_bytes=10, max_total_bytes=10, max_entry_bytes=10, max_members=2)
    with pytest.raises(E.too_large):
        open_bundle(archive, tmp_path / "s", kind=KIND, limits=small, errors=E)


def test_error_sets_are_complete() -> None:
    assert all(issubclass(cls, TatorError) for cls in vars(E).values())
    assert isinstance(E, BundleErrors)

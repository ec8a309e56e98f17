from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tator.datasets import zipsafe
from tator.errors import DatasetImageInvalid, DatasetZipCompressionRatio, DatasetZipTooManyEntries
from tests.datasets.zips import png_bytes, zip_entries

LIMITS = zipsafe.ZipLimits(max_entry_bytes=10**8, max_total_bytes=10**8, max_image_pixels=10**7)


def _plan(tmp: Path, entries: list[tuple[str, bytes]], limits: zipsafe.ZipLimits = LIMITS) -> list[str]:
    with zipfile.ZipFile(zip_entries(tmp / "a.zip", entries)) as zf:
        return [m.path.as_posix() for m in zipsafe.plan(zf, limits)]


def test_single_top_folder_is_unwrapped_and_junk_skipped(tmp_path: Path) -> None:
    entries = [("ds/", b""), ("ds/labelmap.txt", b"a"), ("ds/train/images/x.png", b"p"), ("__MACOSX/ds/._x.png", b"j"),
               ("ds/.DS_Store", b"j"), ("ds/Thumbs.db", b"j")]  # fmt: skip
    assert _plan(tmp_path, entries) == ["labelmap.txt", "train/images/x.png"]


@pytest.mark.parametrize("top", ["train", "images", "valid"])
def test_split_or_images_folder_is_not_unwrapped(tmp_path: Path, top: str) -> None:
    assert _plan(tmp_path, [(f"{top}/a.png", b"p"), (f"{top}/b.png", b"p")]) == [f"{top}/a.png", f"{top}/b.png"]


def test_too_many_entries_and_ratio(tmp_path: Path) -> None:
    few = zipsafe.ZipLimits(max_entry_bytes=10**8, max_total_bytes=10**8, max_image_pixels=10**7, max_entries=3)
    with pytest.raises(DatasetZipTooManyEntries):
        _plan(tmp_path, [(f"{i}.txt", b"x") for i in range(4)], few)
    with pytest.raises(DatasetZipCompressionRatio):
        _plan(tmp_path, [("zeros.bin", b"\0" * 2 * 1024 * 1024)])
    with pytest.raises(DatasetZipCompressionRatio):  # exactly 1 MiB used to slip under the per-member floor
        _plan(tmp_path, [("mib-zeros.bin", b"\0" * 1024 * 1024)])
    assert _plan(tmp_path, [("small-zeros.txt", b"\0" * 60_000)]) == ["small-zeros.txt"]  # under the member floor


def test_the_archive_ratio_is_checked_as_a_whole(tmp_path: Path) -> None:
    many_small = [(f"z{i}.txt", b"\0" * 60_000) for i in range(300)]  # each under the floor, 18 MB in all
    with pytest.raises(DatasetZipCompressionRatio) as refused:
        _plan(tmp_path, many_small)
    assert refused.value.details["scope"] == "archive"
    assert len(_plan(tmp_path, many_small[:200])) == 200  # 12 MB: under the archive floor


def test_extract_validates_images_and_fingerprints(tmp_path: Path) -> None:
    archive = zip_entries(tmp_path / "a.zip", [("x.png", png_bytes((7, 5))), ("notes.txt", b"hello")])
    with zipfile.ZipFile(archive) as zf:
        result = zipsafe.extract(zf, zipsafe.plan(zf, LIMITS), tmp_path / "out", LIMITS)
    assert result.image_sizes == {"x.png": (7, 5)} and result.files == 2
    assert sorted(name for name, _, _ in result.fingerprint) == ["notes.txt", "x.png"]
    broken = zip_entries(tmp_path / "b.zip", [("y.png", png_bytes()[:60])])
    with zipfile.ZipFile(broken) as zf, pytest.raises(DatasetImageInvalid):
        zipsafe.extract(zf, zipsafe.plan(zf, LIMITS), tmp_path / "out2", LIMITS)

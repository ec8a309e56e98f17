from __future__ import annotations

import os
from pathlib import Path

import pytest

from tator.errors import InvalidId, InvalidRelativePath, PathOutsideDataDir
from tator.storage.paths import PathGuard, check_id, check_os_path, check_relative


@pytest.fixture
def guard(tmp_path: Path) -> PathGuard:
    root = tmp_path / "root"
    root.mkdir()
    return PathGuard(root)


@pytest.mark.parametrize("value", ["abc", "run_1", "a.b-c", "X" * 128, "0f3e9c"])
def test_check_id_accepts_plain_ids(value: str) -> None:
    assert check_id(value) == value


@pytest.mark.parametrize(
    "value",
    ["", ".", "..", "../x", "a/b", "a\\b", "/etc", ".hidden", "a..b", "x" * 129, "a b", "ü", "a\x00b", "%2e%2e"],
)
def test_check_id_rejects_unsafe_ids(value: str) -> None:
    with pytest.raises(InvalidId):
        check_id(value)


@pytest.mark.parametrize(
    "relative",
    [
        "../secret",
        "a/../../secret",
        "a/..",
        "/etc/passwd",
        "~/x",
        "C:/Windows",
        "c:\\windows",
        "a\\..\\b",
        "%2e%2e/secret",
        "%252e%252e/secret",
        "a/%2e%2e/%2e%2e/secret",
        "..%2fsecret",
        "%2fetc%2fpasswd",
        "a\x00b",
        "",
        ".",
        "x" * 1025,
    ],
)
def test_relative_rejects_escapes(guard: PathGuard, relative: str) -> None:
    with pytest.raises((InvalidRelativePath, PathOutsideDataDir)):
        guard.relative(relative)


def test_relative_resolves_inside(guard: PathGuard) -> None:
    assert guard.relative("a/b/c.txt") == guard.root / "a" / "b" / "c.txt"
    assert guard.relative("./a//b") == guard.root / "a" / "b"


def test_symlink_escape_is_refused(guard: PathGuard, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    os.symlink(outside, guard.root / "link")
    with pytest.raises(PathOutsideDataDir):
        guard.relative("link/secret.txt")
    with pytest.raises(PathOutsideDataDir):
        guard.child("link")


def test_symlink_inside_root_is_allowed(guard: PathGuard) -> None:
    (guard.root / "real").mkdir()
    os.symlink(guard.root / "real", guard.root / "alias")
    assert guard.relative("alias/file") == guard.root / "real" / "file"


def test_root_that_is_itself_a_symlink_is_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "linked")
    guard = PathGuard(tmp_path / "linked")
    assert guard.child("x") == real / "x"


def test_child_joins_ids_and_sub_guard(guard: PathGuard) -> None:
    assert guard.child("a", "b") == guard.root / "a" / "b"
    sub = guard.sub("a")
    assert sub.relative("c") == guard.root / "a" / "c"
    with pytest.raises(InvalidId):
        guard.child("a", "..")


def test_relative_with_base_stays_in_base(guard: PathGuard) -> None:
    base = guard.root / "ds"
    base.mkdir()
    (guard.root / "other").mkdir()
    assert guard.relative("x.txt", base=base) == base / "x.txt"
    with pytest.raises(InvalidRelativePath):
        guard.relative("../other/x.txt", base=base)


def test_locate_takes_absolute_paths_only_inside_the_root(guard: PathGuard, tmp_path: Path) -> None:
    (guard.root / "models").mkdir()
    assert guard.locate(str(guard.root / "models")) == guard.root / "models"
    assert guard.locate("models") == guard.root / "models"
    for value in (str(tmp_path), "/etc", str(guard.root / ".." / "x")):
        with pytest.raises(PathOutsideDataDir):
            guard.locate(value)
    for value in ("../x", "~/x", "a\\b", ""):
        with pytest.raises(InvalidRelativePath):
            guard.locate(value)
    os.symlink(tmp_path, guard.root / "link")
    with pytest.raises(PathOutsideDataDir):
        guard.locate("link")
    with pytest.raises(PathOutsideDataDir):
        guard.locate(str(guard.root / "link"))


@pytest.mark.parametrize("value", ["a\x00b.npz", "x" * 256 + ".npz", "ok/" + "y" * 300, "d/" * 2100])
def test_os_unsafe_paths_are_refused(value: str) -> None:
    with pytest.raises(InvalidRelativePath):
        check_os_path(value)


def test_the_guard_refuses_nul_and_long_names_relative_and_absolute(guard: PathGuard) -> None:
    # The OS call would raise ValueError / ENAMETOOLONG, which used to surface as a 500.
    for bad in ("a\x00.npz", "n" * 300 + ".npz"):
        with pytest.raises(InvalidRelativePath):
            guard.relative(bad)
        with pytest.raises(InvalidRelativePath):
            guard.ensure_inside(guard.root / bad)
    assert check_relative("a/" + "b" * 255).parts[-1] == "b" * 255  # exactly at the limit is fine

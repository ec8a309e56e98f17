from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest

from tator.errors import UploadTooLarge
from tator.storage.files import atomic_write_json, atomic_write_text, directory_bytes, save_stream


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]  # no temp files left


def test_concurrent_readers_never_see_partial_content(tmp_path: Path) -> None:
    target = tmp_path / "big.txt"
    payloads = ["a" * 200_000, "b" * 200_000]
    atomic_write_text(target, payloads[0])
    stop = threading.Event()
    seen: set[str] = set()

    def read() -> None:
        while not stop.is_set():
            text = target.read_text()
            seen.add(text[:1] + str(len(text)))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(50):
        atomic_write_text(target, payloads[i % 2])
    stop.set()
    reader.join()
    assert seen <= {"a200000", "b200000"}


def test_save_stream_hashes_and_counts(tmp_path: Path) -> None:
    data = b"x" * (3 * 1024 * 1024 + 5)
    saved = save_stream(io.BytesIO(data), tmp_path / "f.bin", max_bytes=len(data))
    assert saved.size == len(data)
    assert (tmp_path / "f.bin").read_bytes() == data
    import hashlib

    assert saved.sha256 == hashlib.sha256(data).hexdigest()


def test_save_stream_over_limit_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(UploadTooLarge):
        save_stream(io.BytesIO(b"x" * 2_000_000), tmp_path / "f.bin", max_bytes=1_000_000)
    assert list(tmp_path.iterdir()) == []


def test_directory_bytes_does_not_follow_symlinks(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_bytes(b"12345")
    (tmp_path / "big").write_bytes(b"x" * 10_000)
    (tmp_path / "d" / "link").symlink_to(tmp_path / "big")
    assert directory_bytes(tmp_path / "d") < 10_000

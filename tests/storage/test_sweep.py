"""Start-up leftover removal touches only names this server generates."""

from __future__ import annotations

import uuid
from pathlib import Path

from tator.storage.files import atomic_copy, directory_bytes
from tator.storage.sweep import remove_leftovers


def test_only_generated_leftovers_are_removed(tmp_path: Path) -> None:
    hexid = uuid.uuid4().hex
    doomed = [
        tmp_path / "datasets" / "d" / "text_labels" / ".a.txt.k2j4h5g6.tmp",
        tmp_path / "jobs" / "j" / ".metrics.json.abcdefgh.tmp",
        tmp_path / "classifiers" / f".incoming-{hexid}",
        tmp_path / "classifiers" / f".converted-{hexid}.npz",
        tmp_path / "yolo_runs" / f".deleting-{hexid}" / "best.pt",
        tmp_path / "yolo_runs" / f".import-{hexid}" / "best.pt",
    ]
    kept = [
        tmp_path / "datasets" / "d" / "train" / "images" / "photo.tmp.png",
        tmp_path / "datasets" / "d" / "notes.tmp",
        tmp_path / "classifiers" / "incoming-head.npz",
        tmp_path / "yolo_runs" / "r" / "best.pt",
    ]
    for path in doomed + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert remove_leftovers(tmp_path) == 6
    assert not any(p.exists() for p in doomed) and all(p.exists() for p in kept)


def test_atomic_copy_never_leaves_a_cut_destination(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 9000)
    saved = atomic_copy(src, tmp_path / "out" / "best.pt")
    assert saved.size == src.stat().st_size and (tmp_path / "out" / "best.pt").read_bytes() == src.read_bytes()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["best.pt"]


def test_quotas_do_not_count_leftovers(tmp_path: Path) -> None:
    (tmp_path / "head.npz").write_bytes(b"x" * 100)
    (tmp_path / f".incoming-{uuid.uuid4().hex}").write_bytes(b"x" * 5000)
    (tmp_path / ".head.npz.abcdefgh.tmp").write_bytes(b"x" * 5000)
    assert directory_bytes(tmp_path) == 100

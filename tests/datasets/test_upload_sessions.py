"""One record format, expiry and sweep for the three upload-session kinds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tator.datasets.upload_sessions import RECORD, TTL_S, SessionStore, sweep
from tator.errors import DatasetUploadSessionBusy, DatasetUploadSessionNotFound, TatorError


def _store(root: Path, kind: str) -> SessionStore:
    return SessionStore(root, kind, not_found=lambda s: DatasetUploadSessionNotFound(s),
                        busy=lambda s: DatasetUploadSessionBusy(s))  # fmt: skip


def _age(path: Path, seconds: float) -> None:
    record = json.loads((path / RECORD).read_text())
    (path / RECORD).write_text(json.dumps({**record, "updated_at": time.time() - seconds}))


def test_kinds_share_a_record_and_expire_by_their_own_ttl(tmp_path: Path) -> None:
    images, raw, crops = _store(tmp_path, "images"), _store(tmp_path, "bytes"), _store(tmp_path, "crop_zip")
    live_images, record = images.create({"total_images": 3})
    assert {"session_id", "kind", "status", "created_at", "updated_at", "expires_at"} <= set(record)
    assert record["expires_at"] == record["updated_at"] + TTL_S["images"]
    live_raw, _ = raw.create({"total_bytes": 10})
    old_crops, _ = crops.create({})
    _age(live_images, 2 * 24 * 3600)  # two days idle: alive for its kind (7 days)
    _age(old_crops, 2 * 24 * 3600)  # two days idle: expired for a crop zip (1 day)
    (tmp_path / "half-created").mkdir()  # no record yet: left alone within the grace period

    assert sweep(tmp_path) == 1
    assert live_images.is_dir() and live_raw.is_dir() and not old_crops.exists()
    assert (tmp_path / "half-created").is_dir()
    assert sweep(tmp_path, grace_s=0) == 1 and not (tmp_path / "half-created").exists()


def test_a_kind_never_sees_another_kinds_session_and_a_busy_one_is_not_swept(tmp_path: Path) -> None:
    images, raw = _store(tmp_path, "images"), _store(tmp_path, "bytes")
    path, record = images.create({})
    assert not raw.exists(record["session_id"]) and images.exists(record["session_id"])
    with pytest.raises(TatorError) as refused:
        raw.load(record["session_id"])
    assert refused.value.code == "dataset_upload_session_not_found"
    _age(path, 30 * 24 * 3600)
    with images.locked(record["session_id"]):
        assert sweep(tmp_path) == 0 and path.is_dir()  # held by a request: not removed under it
    assert sweep(tmp_path, finished=lambda sid: sid == record["session_id"]) == 1

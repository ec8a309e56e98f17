from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings
from tests.datasets.zips import files_under, yolo_zip


def _init(client: TestClient, data: bytes, **extra: object) -> str:
    body = {"total_bytes": len(data), "filename": "shapes.zip", **extra}
    response = client.post("/datasets/upload_session/init", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["offset"] == 0
    return str(response.json()["session_id"])


def _chunk(client: TestClient, sid: str, offset: int, data: bytes) -> dict[str, object]:
    response = client.put(f"/datasets/upload_session/{sid}/chunk", params={"offset": offset}, content=data)
    return {"status": response.status_code, **response.json()}


def test_resumable_upload_survives_a_restart(settings: Settings, tmp_path: Path) -> None:
    archive, ds = yolo_zip(tmp_path)
    data = archive.read_bytes()
    half = len(data) // 2
    with TestClient(create_app(settings, loaders={})) as client:
        sid = _init(client, data, dataset_id="resumed", context="c", sha256=hashlib.sha256(data).hexdigest())
        assert _chunk(client, sid, 0, data[:half])["offset"] == half
        mismatch = _chunk(client, sid, 0, data[half:])
        assert (mismatch["status"], mismatch["detail"], mismatch["expected_offset"]) == (
            409,
            "dataset_upload_offset_mismatch",
            half,
        )
        early = client.post(f"/datasets/upload_session/{sid}/finalize")
        assert (early.status_code, early.json()["detail"]) == (409, "dataset_upload_incomplete")
    with TestClient(create_app(settings, loaders={})) as client:  # a new server process on the same data
        status = client.get(f"/datasets/upload_session/{sid}").json()
        assert (status["offset"], status["total_bytes"], status["complete"]) == (half, len(data), False)
        assert [s["session_id"] for s in client.get("/datasets/upload_sessions").json()["items"]] == [sid]
        rest = client.post(f"/datasets/upload_session/{sid}/chunk", params={"offset": half}, content=data[half:])
        assert rest.json()["complete"] is True
        meta = client.post(f"/datasets/upload_session/{sid}/finalize").json()
        assert (meta["id"], meta["context"], meta["image_count"]) == ("resumed", "c", len(ds.images))
        assert client.get(f"/datasets/upload_session/{sid}").json()["detail"] == "dataset_upload_session_not_found"
    assert files_under(settings.uploads_dir / "dataset_uploads") == set()


def test_session_errors_and_abort(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path)
    data = archive.read_bytes()
    too_big = client.post("/datasets/upload_session/init", json={"total_bytes": settings.max_upload_bytes + 1})
    assert (too_big.status_code, too_big.json()["detail"]) == (413, "upload_too_large")
    bad_id = client.post("/datasets/upload_session/init", json={"total_bytes": 10, "dataset_id": "../x"})
    assert (bad_id.status_code, bad_id.json()["detail"]) == (400, "invalid_id")

    sid = _init(client, data)
    overrun = _chunk(client, sid, 0, data + b"extra")
    assert (overrun["status"], overrun["detail"]) == (413, "upload_too_large")
    aborted = client.post(f"/datasets/upload_session/{sid}/abort").json()
    assert aborted == {"status": "aborted", "session_id": sid}
    assert client.put(f"/datasets/upload_session/{sid}/chunk", params={"offset": 0}, content=b"x").status_code == 404

    sid = _init(client, data, sha256="0" * 64)
    assert _chunk(client, sid, 0, data)["complete"] is True
    wrong = client.post(f"/datasets/upload_session/{sid}/finalize")
    assert (wrong.status_code, wrong.json()["detail"]) == (400, "dataset_upload_checksum_mismatch")

    sid = _init(client, b"not a zip at all")
    _chunk(client, sid, 0, b"not a zip at all")
    refused = client.post(f"/datasets/upload_session/{sid}/finalize")
    assert (refused.status_code, refused.json()["detail"]) == (400, "dataset_zip_invalid")
    assert client.delete(f"/datasets/upload_session/{sid}").status_code == 404
    assert files_under(settings.uploads_dir / "dataset_uploads") == set()
    assert files_under(settings.uploads_dir / "datasets") == set()

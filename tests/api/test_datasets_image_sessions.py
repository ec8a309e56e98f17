from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings
from tator.zoo.synthetic import SyntheticDataset, SyntheticImage, make_detection_dataset
from tests.datasets.zips import files_under

CLASSES = ("circle", "square")


def _stored(settings: Settings) -> set[str]:
    """Data files, less logs, the database and lock files (which a request may touch)."""
    return {f for f in files_under(settings.data_dir) if not f.startswith("logs/") and ".sqlite3" not in f
            and not f.endswith(".lock")}  # fmt: skip


def _dataset(tmp_path: Path) -> SyntheticDataset:
    return make_detection_dataset(tmp_path / "src", classes=CLASSES, n_train=4, n_val=2, image_size=64)


def _start(client: TestClient, total: int, **extra: object) -> str:
    body = {"dataset_id": "pieces", "classes": list(CLASSES), "total_images": total, "context": "ctx", **extra}
    response = client.post("/datasets/upload_session/start", json=body)
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["received"], out["total_images"], out["status"]) == (0, total, "open")
    return str(out["session_id"])


def _batch(client: TestClient, sid: str, images: list[SyntheticImage], **rename: str) -> dict[str, object]:
    rows, files = [], []
    for image in images:
        name = rename.get(image.path.name, image.path.name)
        rows.append({"filename": name, "split": image.split, "label_text": image.label_path.read_text()})
        files.append(("files", (name, image.path.read_bytes(), "image/png")))
    response = client.post(
        f"/datasets/upload_session/{sid}/batch", data={"manifest": json.dumps({"rows": rows})}, files=files
    )
    return {"status": response.status_code, **response.json()}


def test_batches_retry_restart_and_finalize(settings: Settings, tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    images = list(ds.images)
    first, second = images[:3], images[3:]
    with TestClient(create_app(settings, loaders={})) as client:
        sid = _start(client, len(images))
        assert _batch(client, sid, first)["received"] == 3
        assert _batch(client, sid, first)["received"] == 3  # a retried batch replaces, never duplicates
        early = client.post(f"/datasets/upload_session/{sid}/finalize")
        assert (early.status_code, early.json()["detail"]) == (409, "dataset_upload_incomplete")
    with TestClient(create_app(settings, loaders={})) as client:  # the session survives a restart
        out = _batch(client, sid, second)
        assert (out["status"], out["received"], out["total_images"]) == (200, len(images), len(images))
        meta = client.post(f"/datasets/upload_session/{sid}/finalize").json()
        assert (meta["id"], meta["type"], meta["context"], meta["classes"]) == ("pieces", "bbox", "ctx", list(CLASSES))
        assert (meta["train_count"], meta["val_count"], meta["image_count"]) == (4, 2, 6)
        listed = {d["id"]: d for d in client.get("/datasets").json()}
        assert listed["pieces"]["image_count"] == 6
        assert listed["pieces"]["classes"] == list(CLASSES)
        again = client.post(f"/datasets/upload_session/{sid}/finalize")  # idempotent: the same dataset
        assert (again.status_code, again.json()["id"], again.json()["signature"]) == (200, "pieces", meta["signature"])
        assert [d["id"] for d in client.get("/datasets").json()].count("pieces") == 1
    assert files_under(settings.uploads_dir / "dataset_uploads") == set()


def test_traversal_filename_is_refused(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    sid = _start(client, 2)
    before = _stored(settings)
    bad = _batch(client, sid, list(ds.images[:1]), **{ds.images[0].path.name: "../x.png"})
    assert (bad["status"], bad["detail"]) == (400, "invalid_relative_path")
    nested = _batch(client, sid, list(ds.images[:1]), **{ds.images[0].path.name: "a/x.png"})
    assert nested["status"] == 400
    assert _stored(settings) == before
    assert not (settings.uploads_dir / "dataset_uploads" / "sessions" / "x.png").exists()
    assert client.get(f"/datasets/upload_session/{sid}").json()["offset"] == 0


def test_bad_label_rejects_the_whole_batch(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    sid = _start(client, 2)
    good, broken = ds.images[0], ds.images[1]
    broken.label_path.write_text("7 0.5 0.5 0.1 0.1\n")
    out = _batch(client, sid, [good, broken])
    assert (out["status"], out["detail"]) == (400, "dataset_label_class_out_of_range")
    staging = settings.uploads_dir / "dataset_uploads" / "sessions" / sid / "staging"
    assert files_under(staging) == {"labelmap.txt"}


def test_cancel_deletes_staging(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    ds = _dataset(tmp_path)
    sid = _start(client, 6)
    assert _batch(client, sid, list(ds.images[:2]))["received"] == 2
    session_dir = settings.uploads_dir / "dataset_uploads" / "sessions" / sid
    assert (session_dir / "staging").is_dir()
    response = client.post(f"/datasets/upload_session/{sid}/cancel")
    assert response.json() == {"session_id": sid, "status": "cancelled"}
    assert not session_dir.exists()
    again = client.post(f"/datasets/upload_session/{sid}/cancel")
    assert (again.status_code, again.json()["detail"]) == (404, "dataset_upload_session_not_found")


def test_start_requires_dataset_id(client: TestClient) -> None:
    missing = client.post("/datasets/upload_session/start", json={"classes": ["a"], "total_images": 1})
    assert (missing.status_code, missing.json()["detail"]) == (400, "dataset_upload_session_dataset_id_required")
    bad = client.post(
        "/datasets/upload_session/start", json={"dataset_id": "../x", "classes": ["a"], "total_images": 1}
    )
    assert (bad.status_code, bad.json()["detail"]) == (400, "invalid_id")


def test_over_long_file_names_are_400_not_500(client: TestClient, tmp_path: Path) -> None:
    image = next(iter(_dataset(tmp_path).images))
    sid = _start(client, 1)
    out = _batch(client, sid, [image], **{image.path.name: "x" * 300 + ".png"})  # over the 255-byte OS limit
    assert (out["status"], out["detail"]) == (400, "invalid_relative_path")
    assert client.get("/healthz").status_code == 200

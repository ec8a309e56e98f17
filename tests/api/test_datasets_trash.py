"""`DELETE /datasets/{id}` moves a dataset to the trash; the trash lists, restores and expires it."""

from __future__ import annotations

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings
from tests.datasets.zips import yolo_zip


def _upload(client: TestClient, archive: Path, dataset_id: str) -> None:
    with open(archive, "rb") as handle:
        response = client.post("/datasets/upload", files={"file": ("x.zip", handle)}, data={"dataset_id": dataset_id})
    assert response.status_code == 200, response.text


def test_delete_lists_in_trash_and_restores(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, ds = yolo_zip(tmp_path)
    _upload(client, archive, "shapes")
    client.post("/datasets/shapes/glossary", json={"glossary": "kept through the trash"})
    gone = client.delete("/datasets/shapes").json()
    assert gone["status"] == "deleted" and client.get("/datasets").json() == []
    trash = client.get("/datasets/trash").json()
    item = trash["items"][0]
    assert (trash["total"], item["dataset_id"], item["trash_id"]) == (1, "shapes", gone["trash_id"])
    assert item["expires_at"] == item["trashed_at"] + settings.dataset_trash_retention_s

    _upload(client, archive, "shapes")  # the id is free while its old dataset sits in the trash
    taken = client.post(f"/datasets/trash/{gone['trash_id']}/restore")
    assert (taken.status_code, taken.json()["detail"]) == (409, "dataset_exists")
    restored = client.post(f"/datasets/trash/{gone['trash_id']}/restore", json={"dataset_id": "shapes_old"})
    assert restored.json() == {"status": "restored", "id": "shapes_old", "trash_id": gone["trash_id"]}
    listed = {e["id"]: e for e in client.get("/datasets").json()}
    assert set(listed) == {"shapes", "shapes_old"} and listed["shapes_old"]["image_count"] == len(ds.images)
    assert client.get("/datasets/shapes_old/glossary").json()["glossary"] == "kept through the trash"
    assert client.get("/datasets/trash").json()["items"] == []
    missing = client.post(f"/datasets/trash/{gone['trash_id']}/restore")
    assert (missing.status_code, missing.json()["detail"]) == (404, "dataset_trash_not_found")
    bad = client.post("/datasets/trash/..%2Fx/restore")
    assert bad.status_code in (400, 404)


def test_trash_is_emptied_after_the_retention_period(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", device="cpu", dataset_trash_retention_s=3600)
    archive, _ = yolo_zip(tmp_path)
    with TestClient(create_app(settings, loaders={})) as client:
        _upload(client, archive, "old")
        _upload(client, archive, "new")
        old = client.delete("/datasets/old").json()["trash_id"]
        client.delete("/datasets/new")
        sidecar = settings.uploads_dir / "datasets" / ".trash" / f"{old}.json"
        record = json.loads(sidecar.read_text())
        sidecar.write_text(json.dumps({**record, "trashed_at": time.time() - 7200}))  # trashed two hours ago
        assert [i["dataset_id"] for i in client.get("/datasets/trash").json()["items"]] == ["new"]
        assert not (settings.uploads_dir / "datasets" / ".trash" / old).exists()

from __future__ import annotations

import base64
import io
import pickle
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from tator.app import create_app
from tator.settings import Settings
from tests.datasets.zips import png_bytes


def _b64(size: tuple[int, int] = (40, 30)) -> str:
    return base64.b64encode(png_bytes(size)).decode()


def test_crop_zip_flow_streams_named_crops_and_cleans_up(client: TestClient, settings: Settings) -> None:
    job = client.post("/crop_zip_init").json()["jobId"]
    first = {"images": [{"image_base64": _b64(), "originalName": "dir/cat.photo.png",
                         "bboxes": [{"className": "cat", "x": 5, "y": 5, "width": 10, "height": 8},
                                    {"className": "tail/../x", "x": 30, "y": 20, "width": 50, "height": 50},
                                    {"className": "ghost", "x": 100, "y": 100, "width": 5, "height": 5}]}]}  # fmt: skip
    chunk = client.post("/crop_zip_chunk", params={"jobId": job}, json=first).json()
    assert chunk == {"status": "ok", "count": 1, "crops": 2, "total_crops": 2}
    second = {"images": [{"image_base64": _b64(), "originalName": "cat.photo.png",
                          "bboxes": [{"className": "cat", "x": 0, "y": 0, "width": 4, "height": 4}]}]}  # fmt: skip
    assert client.post("/crop_zip_chunk", params={"jobId": job}, json=second).json()["total_crops"] == 3
    response = client.post("/crop_zip_finalize", params={"jobId": job})
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-zip-compressed"
    assert "crops.zip" in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        names = sorted(zf.namelist())
        crop = Image.open(io.BytesIO(zf.read("cat.photo-cat-0.jpg")))
    assert names == ["cat.photo-cat-0.jpg", "cat.photo-cat-0_1.jpg", "cat.photo-tail___x-1.jpg"]
    assert crop.size == (10, 8) and crop.format == "JPEG"
    assert client.get("/crop_zip_finalize", params={"jobId": job}).json()["detail"] == "crop_zip_job_not_found"
    assert list((settings.uploads_dir / "crop_zips").iterdir()) == []


def test_crop_zip_get_finalize_and_bad_image(client: TestClient) -> None:
    job = client.post("/crop_zip_init").json()["jobId"]
    bad = client.post("/crop_zip_chunk", params={"jobId": job}, json={"images": [{"image_base64": "!!", "bboxes": []}]})
    assert (bad.status_code, bad.json()["detail"]) == (400, "invalid_base64")
    empty = client.get("/crop_zip_finalize", params={"jobId": job})
    assert empty.status_code == 200 and zipfile.ZipFile(io.BytesIO(empty.content)).namelist() == []


def test_upload_labelmap(client: TestClient, settings: Settings) -> None:
    # A name with a directory part is refused as sent, never cut down to its basename and stored.
    for name in ("../../my labels.txt", "../../labels.txt", "sub/labels.txt", "a\\labels.txt", "./labels.txt"):
        refused = client.post("/fs/upload_labelmap", files={"file": (name, b"cat\ndog\n\n")})
        assert (refused.status_code, refused.json()["detail"]) == (400, "upload_filename_invalid"), name
    assert not (settings.uploads_dir / "labelmaps").is_dir() or not any((settings.uploads_dir / "labelmaps").iterdir())
    saved = client.post("/fs/upload_labelmap", files={"file": ("labels.txt", b"\xef\xbb\xbfcat\r\ndog\n")}).json()
    assert saved == {"path": str(settings.uploads_dir / "labelmaps" / "labels.txt"), "classes": 2}
    assert Path(saved["path"]).read_text() == "cat\ndog\n"
    again = client.post("/fs/upload_labelmap", files={"file": ("labels.txt", b"x\n")})
    assert (again.status_code, again.json()["detail"]) == (409, "upload_exists")
    pickled = client.post("/fs/upload_labelmap", files={"file": ("list.pkl", pickle.dumps(["a", "b", "c"]))}).json()
    assert Path(pickled["path"]).name == "list.txt" and pickled["classes"] == 3
    empty = client.post("/fs/upload_labelmap", files={"file": ("e.txt", b"\n\n")})
    assert (empty.status_code, empty.json()["detail"]) == (400, "labelmap_invalid")
    assert sorted(p.name for p in (settings.uploads_dir / "labelmaps").iterdir()) == ["labels.txt", "list.txt"]


def test_glossary_library_routes(client: TestClient) -> None:
    assert client.get("/glossaries").json() == []
    assert client.post("/glossaries", json={"name": "Object class", "glossary": "car: sedan"}).json() == {
        "status": "saved", "name": "Object class"}  # fmt: skip
    listed = client.get("/glossaries").json()
    assert [(g["name"], g["preview"]) for g in listed] == [("Object class", "car: sedan")] and listed[0][
        "updated_at"
    ] > 0
    assert client.get("/glossaries/Object class").json() == {"name": "Object class", "glossary": "car: sedan"}
    assert client.delete("/glossaries/Object class").json() == {"status": "deleted", "name": "Object class"}
    missing = client.get("/glossaries/Object class")
    assert (missing.status_code, missing.json()["detail"]) == (404, "glossary_not_found")


def test_crop_zip_budget_is_checked_before_writing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", device="cpu", max_upload_bytes=20_000)
    boxes = [{"className": "c", "x": 0, "y": 0, "width": 64, "height": 64}] * 200  # ~200 crops, far over 20 KB
    chunk = {"images": [{"image_base64": _b64((64, 64)), "bboxes": boxes}, {"image_base64": "!!", "bboxes": []}]}
    with TestClient(create_app(settings, loaders={})) as client:
        job = client.post("/crop_zip_init").json()["jobId"]
        response = client.post("/crop_zip_chunk", params={"jobId": job}, json=chunk)
        # Refused as soon as the budget ran out: before every crop was written, before the next image was read.
        assert (response.status_code, response.json()["detail"]) == (413, "crop_zip_too_large")
        assert list((settings.uploads_dir / "crop_zips" / job / "crops").iterdir()) == []
        many = {"images": [{"image_base64": _b64(), "bboxes": boxes[:1] * 6000}] * 2}  # 12,000 boxes in one chunk
        refused = client.post("/crop_zip_chunk", params={"jobId": job}, json=many)
        assert (refused.status_code, refused.json()["limit_boxes"]) == (413, 10_000)
        assert client.get("/healthz").status_code == 200

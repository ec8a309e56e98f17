"""Qwen datasets: chunked upload through the common ingest, listing, deletion and refusals."""

from __future__ import annotations

import io
import json

from fastapi.testclient import TestClient
from PIL import Image


def _png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _chunk(client: TestClient, job: str, split: str, name: str, line: str, data: bytes) -> dict[str, object]:
    response = client.post(
        "/qwen/dataset/chunk",
        data={"job_id": job, "split": split, "image_name": name, "annotation_line": line},
        files={"file": (name, data, "image/png")},
    )
    return {**response.json(), "http": response.status_code}


def test_chunked_upload_listing_and_delete(client: TestClient) -> None:
    job = client.post("/qwen/dataset/init", data={"run_name": "birds"}).json()["job_id"]
    line = json.dumps({"detections": [{"label": "bird", "bbox": [4, 4, 40, 30], "point": [22, 17]}]})
    assert _chunk(client, job, "train", "a.png", line, _png((255, 0, 0)))["train_count"] == 1
    assert _chunk(client, job, "train", "a.png", line, _png((0, 255, 0)))["train_count"] == 1  # replaced
    last = _chunk(client, job, "val", "b.png", line, _png((0, 0, 255)))
    assert (last["http"], last["train_count"], last["val_count"]) == (200, 1, 1)
    refusals = [
        (("nope", "train", "c.png", line, _png((1, 1, 1))), 404, "qwen_dataset_job_not_found"),
        ((job, "test", "c.png", line, _png((1, 1, 1))), 400, "qwen_dataset_split_invalid"),
        ((job, "train", "../c.png", line, _png((1, 1, 1))), 400, "invalid_relative_path"),
        ((job, "train", "c.txt", line, _png((1, 1, 1))), 400, "invalid_relative_path"),
        ((job, "train", "c.png", "{not json", _png((1, 1, 1))), 400, "qwen_dataset_annotation_invalid"),
        ((job, "train", "c.png", line, b"not an image"), 400, "dataset_image_invalid"),
    ]
    for args, status, code in refusals:
        answer = _chunk(client, *args)
        assert (answer["http"], answer["detail"]) == (status, code), args
    meta = client.post(
        "/qwen/dataset/finalize",
        data={"job_id": job, "metadata": json.dumps({"context": "Aerial shots", "labelmap_glossary": "bird: a bird"})},
    )
    assert meta.status_code == 200, meta.text
    assert meta.json()["id"] == "birds" and meta.json()["classes"] == ["bird"]
    listed = client.get("/qwen/datasets").json()
    assert [(d["id"], d["qwen_ready"], d["qwen_train_count"], d["qwen_val_count"]) for d in listed] == [
        ("birds", True, 1, 1)
    ]
    assert client.get("/datasets/birds/glossary").json()["glossary"] == "bird: a bird"
    assert client.post("/qwen/dataset/finalize", data={"job_id": job}).json()["detail"] == "qwen_dataset_job_not_found"
    assert client.delete("/qwen/datasets/nope").json()["detail"] == "qwen_dataset_not_found"
    gone = client.delete("/qwen/datasets/birds").json()
    assert (gone["status"], gone["id"]) == ("deleted", "birds") and gone["trash_id"]
    assert client.get("/qwen/datasets").json() == []


def test_empty_upload_and_cancel(client: TestClient) -> None:
    job = client.post("/qwen/dataset/init").json()["job_id"]
    empty = client.post("/qwen/dataset/finalize", data={"job_id": job})
    assert (empty.status_code, empty.json()["detail"]) == (400, "qwen_dataset_empty")
    other = client.post("/qwen/dataset/init").json()["job_id"]
    assert client.post("/qwen/dataset/cancel", data={"job_id": other}).json()["status"] == "cancelled"
    assert client.post("/qwen/dataset/cancel", data={"job_id": other}).status_code == 404
    assert client.post("/qwen/dataset/init", data={"run_name": "../x"}).status_code == 400

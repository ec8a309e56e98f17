"""Request bodies are bounded before they are read: 413 `request_body_too_large` (tator/api/body_limit.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tator.api.body_limit import json_limit
from tator.app import create_app
from tator.settings import Settings

LIMIT = 4096


@pytest.fixture
def small_limits(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", device="cpu", max_json_bytes=LIMIT, max_upload_bytes=64 * 1024)
    with TestClient(create_app(settings)) as client:
        yield client


def _json_body(size: int) -> bytes:
    body = json.dumps({"image_base64": "A" * size}).encode()
    return body


def test_a_declared_json_body_over_the_limit_is_refused_before_it_is_read(small_limits: TestClient) -> None:
    response = small_limits.post(
        "/yolo/predict_full", content=_json_body(LIMIT), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["detail"] == "request_body_too_large" and response.json()["limit_bytes"] == LIMIT
    assert response.headers["x-request-id"]  # answered inside the request context (id, metrics)


def test_a_chunked_body_is_counted_as_it_arrives(small_limits: TestClient) -> None:
    body = _json_body(LIMIT)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent with chunked transfer encoding
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    response = small_limits.post("/yolo/predict_full", content=chunks(), headers={"content-type": "application/json"})
    assert (response.status_code, response.json()["detail"]) == (413, "request_body_too_large")
    # a body of another type to a JSON route is bounded the same way (FastAPI would read it whole to refuse it)
    plain = small_limits.post("/yolo/predict_full", content=b"x" * (LIMIT + 1), headers={"content-type": "text/plain"})
    assert (plain.status_code, plain.json()["detail"]) == (413, "request_body_too_large")


def test_bodies_within_the_limit_reach_their_route(small_limits: TestClient) -> None:
    response = small_limits.post("/yolo/predict_full", json={"image_base64": "A" * 100})
    assert (response.status_code, response.json()["detail"]) == (400, "invalid_image")  # the route's own answer


def test_uploads_have_the_upload_limit_not_the_json_one(small_limits: TestClient) -> None:
    labelmap = ("\n".join(f"class_{i}" for i in range(1000)) + "\n").encode()  # ~9 KB: over the JSON limit
    assert len(labelmap) > LIMIT
    accepted = small_limits.post("/fs/upload_labelmap", files={"file": ("big.txt", labelmap, "text/plain")})
    assert accepted.status_code == 200, accepted.text
    too_big = small_limits.post("/fs/upload_labelmap", files={"file": ("huge.txt", b"a\n" * 600_000, "text/plain")})
    assert (too_big.status_code, too_big.json()["detail"]) == (413, "upload_too_large")  # what upload routes answer
    assert too_big.json()["limit_bytes"] == 64 * 1024


def test_the_default_json_limit_admits_a_base64_image_of_the_image_limit() -> None:
    image_max = Settings().image_max_bytes
    assert json_limit(image_max) >= (image_max + 2) // 3 * 4 + 1024 * 1024

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.errors import all_error_classes
from tator.settings import Settings


def test_error_codes_are_unique_snake_case() -> None:
    codes = [cls.code for cls in all_error_classes()]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)
    assert all(code.replace("_", "").isalnum() and code.islower() for code in codes)


def test_unknown_route_and_method_use_the_envelope(client: TestClient) -> None:
    missing = client.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "not_found"
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405
    assert wrong.json()["detail"] == "method_not_allowed"


def test_unexpected_exception_is_500_with_request_id_and_no_traceback(settings: Settings) -> None:
    app = create_app(settings, loaders={})

    def boom() -> None:
        raise ZeroDivisionError("secret internals")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom", headers={"X-Request-ID": "abc123"})
    body = response.json()
    assert response.status_code == 500
    assert body["detail"] == "internal_error"
    assert body["request_id"] == "abc123"
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert "ZeroDivisionError" in (settings.logs_dir / "tator.log").read_text()


def test_validation_errors_use_the_envelope(client: TestClient) -> None:
    response = client.get("/jobs", params={"limit": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "validation_error"
    assert body["fields"] == ["limit"] and "limit" in body["message"]


def test_request_id_is_generated_and_echoed(client: TestClient) -> None:
    assert len(client.get("/healthz").headers["x-request-id"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "../../bad id"}).headers["x-request-id"] != "../../bad id"


@pytest.mark.parametrize("origin", ["http://localhost:3000", "http://127.0.0.1:5173", "http://localhost"])
def test_cors_admits_localhost_on_any_port(client: TestClient, origin: str) -> None:
    response = client.options("/system/gpu", headers={"Origin": origin, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost.evil.example", "null"])
def test_cors_refuses_other_origins_by_default(client: TestClient, origin: str) -> None:
    response = client.get("/healthz", headers={"Origin": origin})
    assert "access-control-allow-origin" not in response.headers


def test_cors_configured_origins_replace_default(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, device="cpu", cors_origins=["https://ui.example"], cors_allow_null_origin=True
    )
    with TestClient(create_app(settings, loaders={})) as client:
        assert (
            client.get("/healthz", headers={"Origin": "https://ui.example"}).headers["access-control-allow-origin"]
            == "https://ui.example"
        )
        assert client.get("/healthz", headers={"Origin": "null"}).headers["access-control-allow-origin"] == "null"
        assert (
            "access-control-allow-origin"
            not in client.get("/healthz", headers={"Origin": "http://localhost:3000"}).headers
        )


def test_api_token_required_everywhere_but_healthz(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, device="cpu", api_token="s3cret")
    with TestClient(create_app(settings, loaders={})) as client:
        assert client.get("/healthz").status_code == 200
        missing = client.get("/system/gpu")
        assert (missing.status_code, missing.json()["detail"]) == (401, "auth_required")
        wrong = client.get("/system/gpu", headers={"Authorization": "Bearer nope"})
        assert (wrong.status_code, wrong.json()["detail"]) == (401, "auth_invalid")
        assert client.get("/system/gpu", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert client.get("/system/gpu", headers={"X-API-Token": "s3cret"}).status_code == 200
        assert client.get("/jobs/nope/events", params={"token": "s3cret"}).json()["detail"] == "job_not_found"
        assert client.get("/jobs", params={"token": "s3cret"}).status_code == 401  # only streams and downloads
        assert client.post("/runtime/unload").status_code == 401
        # CORS preflight carries no credentials; the 401 itself still carries CORS headers
        preflight = client.options(
            "/system/gpu", headers={"Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}
        )
        assert preflight.status_code == 200
        denied = client.get("/system/gpu", headers={"Origin": "http://localhost:3000"})
        assert denied.status_code == 401
        assert denied.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_ui_dir_is_served_at_root_and_public_with_token(tmp_path: Path) -> None:
    ui = tmp_path / "ui"
    ui.mkdir()
    (ui / "index.html").write_text("<html>tator ui</html>")
    (ui / "app.js").write_text("console.log(1)")
    settings = Settings(data_dir=tmp_path / "d", device="cpu", ui_dir=ui, api_token="t")
    with TestClient(create_app(settings, loaders={})) as client:
        assert "tator ui" in client.get("/").text
        assert client.get("/app.js").status_code == 200
        assert client.get("/system/gpu").status_code == 401  # API still protected
        assert client.get("/../settings.py").status_code in (401, 404)
        (ui / "leak.txt").symlink_to(tmp_path / "d" / "uploads" / "tator.sqlite3")
        assert client.get("/leak.txt").status_code == 401  # a symlink out of the UI folder is not public


def test_openapi_operation_ids_are_unique(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ids = [op["operationId"] for path in schema["paths"].values() for op in path.values() if "operationId" in op]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})

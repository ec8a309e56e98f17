"""Request guards: Host allow-list (DNS rebinding), Origin/Referer check (cross-site POSTs), public UI paths
and where `?token=` is accepted (and that it never reaches a log line)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings


def _app(tmp_path: Path, **overrides: object) -> TestClient:
    return TestClient(create_app(Settings(data_dir=tmp_path / "data", device="cpu", **overrides), loaders={}))


@pytest.mark.parametrize("origin", ["http://evil.example", "https://localhost.evil.example", "null"])
def test_cross_site_state_changes_are_403(client: TestClient, settings: Settings, origin: str) -> None:
    unload = client.post("/runtime/unload", headers={"Origin": origin})
    assert (unload.status_code, unload.json()["detail"]) == (403, "origin_not_allowed")
    upload = client.post(  # a "simple" multipart POST any page can send without a preflight
        "/fs/upload_labelmap", files={"file": ("x.txt", b"cat\n")}, headers={"Origin": origin}
    )
    assert upload.status_code == 403
    assert not (settings.uploads_dir / "labelmaps" / "x.txt").exists()
    assert client.get("/healthz", headers={"Origin": origin}).status_code == 200  # reads are not refused


def test_referer_is_checked_when_there_is_no_origin(client: TestClient) -> None:
    refused = client.post("/runtime/unload", headers={"Referer": "https://evil.example/page?x=1"})
    assert (refused.status_code, refused.json()["detail"]) == (403, "origin_not_allowed")
    assert client.post("/runtime/unload", headers={"Referer": "http://localhost:5173/app"}).status_code == 200


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://127.0.0.1:8000", "http://testserver"])
def test_allowed_and_same_origin_pages_and_plain_clients_pass(client: TestClient, origin: str) -> None:
    assert client.post("/runtime/unload", headers={"Origin": origin}).status_code == 200
    assert client.post("/runtime/unload").status_code == 200  # curl, httpx, scripts: no Origin at all


def test_configured_origins_replace_the_localhost_default(tmp_path: Path) -> None:
    with _app(tmp_path, cors_origins=["https://ui.example"]) as client:
        assert client.post("/runtime/unload", headers={"Origin": "https://ui.example"}).status_code == 200
        assert client.post("/runtime/unload", headers={"Origin": "http://localhost:3000"}).status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "attacker.rebind.network:8000", "testserver"])
def test_unknown_host_names_are_400(tmp_path: Path, host: str) -> None:
    with _app(tmp_path, allowed_hosts=[]) as client:
        response = client.get("/datasets", headers={"Host": host})
        assert (response.status_code, response.json()["detail"]) == (400, "host_not_allowed")


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "app.localhost", "10.0.0.7"])
def test_loopback_names_and_ip_literals_are_served(tmp_path: Path, host: str) -> None:
    with _app(tmp_path, allowed_hosts=[]) as client:
        assert client.get("/datasets", headers={"Host": host}).status_code == 200


def test_allowed_hosts_and_the_bound_name_are_served(tmp_path: Path) -> None:
    with _app(tmp_path, allowed_hosts=["tator.lab"], host="gpu-box.lan") as client:
        assert client.get("/datasets", headers={"Host": "tator.lab:8000"}).status_code == 200
        assert client.get("/datasets", headers={"Host": "gpu-box.lan:8000"}).status_code == 200
        assert client.get("/datasets", headers={"Host": "other.lan"}).status_code == 400


def test_an_api_path_is_never_public_through_the_ui_mount(tmp_path: Path) -> None:
    ui = tmp_path / "ui"
    ui.mkdir()
    (ui / "index.html").write_text("<html>ui</html>")
    with _app(tmp_path, ui_dir=ui, api_token="t") as client:
        assert client.get("/index.html").status_code == 200
        # The raw path names ui/index.html once resolved, but routes to the API: it must need the token.
        probe = client.get("/datasets/x/text_labels/%2e%2e/%2e%2e/%2e%2e/index.html")
        assert (probe.status_code, probe.json()["detail"]) == (401, "auth_required")
        assert client.get("/datasets", headers={"Authorization": "Bearer t"}).status_code == 200


def test_query_token_only_on_streams_and_downloads(tmp_path: Path) -> None:
    with _app(tmp_path, api_token="s3cret") as client:
        assert client.get("/datasets", params={"token": "s3cret"}).status_code == 401
        assert client.post("/runtime/unload", params={"token": "s3cret"}).status_code == 401
        assert client.get("/jobs/nope/events", params={"token": "s3cret"}).status_code == 404
        download = client.get("/clip/classifiers/download", params={"rel_path": "x.npz", "token": "s3cret"})
        assert download.status_code in (400, 404)  # past the token check


def test_query_tokens_are_redacted_from_every_log_line(settings: Settings) -> None:
    with TestClient(create_app(settings, loaders={})):
        access = logging.LogRecord(
            "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:5", "GET", "/jobs/j1/events?after=3&token=s3cret", "1.1", 200), None,
        )  # fmt: skip
        assert logging.getLogger("uvicorn.access").filter(access)
        assert "s3cret" not in access.getMessage() and "token=***" in access.getMessage()
        logging.getLogger("tator.test").warning("fetch url=/x/download?token=s3cret&y=1")
    text = (settings.logs_dir / "tator.log").read_text()
    assert "token=***&y=1" in text and "s3cret" not in text


def test_the_api_reference_works_behind_a_token(tmp_path: Path) -> None:
    """The pages and their bundles are public (a browser cannot add a header to a script tag); the schema is
    not, and a page opened with `?token=` fetches it with that token, quoted so it cannot break the page."""
    with _app(tmp_path, api_token="s3cret") as client:
        page = client.get("/docs")
        assert page.status_code == 200
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
            assert client.get(f"/docs/assets/{asset}").status_code == 200
        assert client.get("/redoc").status_code == 200
        assert client.get("/docs/assets/%2e%2e/%2e%2e/openapi.json").status_code in (401, 404)
        assert client.get("/openapi.json").status_code == 401
        assert client.get("/openapi.json", params={"token": "wrong"}).status_code == 401
        schema = client.get("/openapi.json", params={"token": "s3cret"})
        assert schema.status_code == 200
        assert schema.json()["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
        assert schema.json()["security"] == [{"bearer": []}]
        assert "/openapi.json?token=s3cret" in client.get("/docs", params={"token": "s3cret"}).text
        hostile = client.get("/docs", params={"token": "x'</script><script>alert(1)//"}).text
        assert "</script><script>alert" not in hostile and "x%27%3C%2Fscript%3E" in hostile
        assert client.post("/docs").status_code in (401, 405)  # only reading is public


def test_without_a_token_the_schema_declares_no_security(tmp_path: Path) -> None:
    with _app(tmp_path) as client:
        schema = client.get("/openapi.json").json()
        assert "security" not in schema and "securitySchemes" not in schema["components"]

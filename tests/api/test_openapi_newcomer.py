"""The OpenAPI description and /docs as a newcomer meets them (walks every route of the schema)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tator.errors import all_error_classes
from tools.openapi_lint import documented_codes, undescribed_fields, undocumented_request_bodies

RAW_BODY_ROUTES = [
    ("post", "/datasets/upload", "multipart/form-data"),
    ("post", "/fs/upload_classifier", "multipart/form-data"),
    ("post", "/clip/train", "multipart/form-data"),
    ("post", "/datasets/upload_session/{session_id}/chunk", "application/octet-stream"),
    ("put", "/datasets/upload_session/{session_id}/chunk", "application/octet-stream"),
]
MAIN_FLOWS = [
    "/yolo/predict_full", "/rfdetr/predict_full", "/yolo/train/jobs", "/rfdetr/train/jobs", "/predict_base64",
    "/clip/train", "/glossaries", "/datasets/{dataset_id}/glossary",
]  # fmt: skip


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def test_every_request_field_and_parameter_has_a_description(spec: dict[str, Any]) -> None:
    assert undescribed_fields(spec) == []


def test_every_documented_error_code_exists_in_the_registry(spec: dict[str, Any]) -> None:
    registry = {cls.code for cls in all_error_classes()}
    documented = documented_codes(spec)
    assert sorted(set(documented) - registry) == []
    assert {"validation_error", "json_invalid", "image_json_required", "image_required"} <= set(documented)


def test_error_lists_are_complete_where_the_issue_found_gaps(spec: dict[str, Any]) -> None:
    documented = documented_codes(spec)
    for code in ("dataset_not_yolo_ready", "dataset_id_or_root_required", "validation_error"):
        assert "POST /yolo/train/jobs" in documented[code]
    for family in ("yolo", "rfdetr"):
        for code in ("image_required", "image_payload_missing", "invalid_image", "image_json_required"):
            assert f"POST /{family}/predict_full" in documented[code]
    errors = spec["paths"]["/yolo/predict_full"]["post"]["responses"]["422"]
    assert errors["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_routes_that_read_their_own_body_publish_a_request_schema(spec: dict[str, Any]) -> None:
    assert undocumented_request_bodies(spec) == []
    for method, path, media in RAW_BODY_ROUTES:
        content = spec["paths"][path][method]["requestBody"]["content"]
        assert media in content, (method, path)
    upload = spec["paths"]["/datasets/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["required"] == ["file"] and "dataset_id" in upload["properties"]


@pytest.mark.parametrize("path", MAIN_FLOWS)
def test_main_flows_have_examples(spec: dict[str, Any], path: str) -> None:
    schema = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert schema.get("examples") or any(p.get("examples") for p in schema["properties"].values())


def test_image_token_description_gives_its_lifetime(spec: dict[str, Any]) -> None:
    token = spec["components"]["schemas"]["YoloPredictRequest"]["properties"]["image_token"]["description"]
    assert "cache" in token and "restart" in token and "image_token_not_found" in token


EXTERNAL_URL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", flags=re.IGNORECASE)
PAGE_REFERENCES = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: ?'([^']+)'""")


@pytest.mark.parametrize(("page", "bundle"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_render_from_local_assets_only(client: TestClient, page: str, bundle: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    text = response.text
    assert EXTERNAL_URL.findall(text) == [] and "cdn" not in text.lower()
    references = {a or b for a, b in PAGE_REFERENCES.findall(text)}
    assert f"/docs/assets/{bundle}" in references and "/openapi.json" in references
    for url in references:
        fetched = client.get(url)
        assert fetched.status_code == 200, url
        assert len(fetched.content) > 100, url
    script = client.get(f"/docs/assets/{bundle}")
    assert "javascript" in script.headers["content-type"] and len(script.content) > 100_000


def test_swagger_ui_oauth2_redirect_page_is_local(client: TestClient) -> None:
    response = client.get("/docs/oauth2-redirect")
    assert response.status_code == 200 and EXTERNAL_URL.findall(response.text) == []


def test_openapi_description_names_the_error_envelope_and_guide(spec: dict[str, Any]) -> None:
    description = spec["info"]["description"]
    assert '"detail"' in description and "docs/api-guide.md" in description


def test_root_points_to_docs_without_a_ui_folder(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code in (302, 307) and response.headers["location"] == "/docs"

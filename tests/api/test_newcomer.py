"""The API as a newcomer meets it: malformed writes, wrong kinds of body, one error shape, unknown fields,
checks before queueing, layouts, re-uploads and messages that say what to do next."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tator.settings import Settings
from tests.datasets.zips import yolo_zip, zip_tree

JPEG_MARK = b"\xff\xd8\xff\xe0SECRET-BODY-BYTES"


def upload(client: TestClient, path: Path, **data: str) -> Any:
    with open(path, "rb") as handle:
        return client.post("/datasets/upload", files={"file": (path.name, handle, "application/zip")}, data=data)


def png_b64(width: int = 32, height: int = 24) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 10, 10)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def shapes(client: TestClient, tmp_path: Path) -> str:
    archive, _ = yolo_zip(tmp_path)
    assert upload(client, archive).status_code == 200
    return "shapes"


# --- a malformed write never loses data -----------------------------------------------------------
def test_glossary_typo_is_refused_and_the_saved_glossary_kept(client: TestClient, shapes: str) -> None:
    assert client.post(f"/datasets/{shapes}/glossary", json={"glossary": "car: cars"}).status_code == 200
    for body in ({"glosary": "typo"}, {}):
        response = client.post(f"/datasets/{shapes}/glossary", json=body)
        assert response.status_code == 422
        assert (response.json()["detail"], response.json()["fields"]) == ("validation_error", ["glossary"])
    assert client.get(f"/datasets/{shapes}/glossary").json()["glossary"] == "car: cars"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/glossaries", {"name": "kept", "glosary": "typo"}, "glossary"),
        ("/datasets/shapes/text_labels/train_0000.png", {"captoin": "typo"}, "caption"),
        ("/datasets/shapes/text_labels/batch", {"imagenames": ["a.png"]}, "body"),
        ("/crop_zip_chunk?jobId=x", {"imgs": []}, "images"),
        ("/detectors/default", {"mdoe": "yolo"}, "mode"),
        ("/yolo/active", {"runid": "r"}, "run_id"),
    ],
)
def test_write_bodies_without_their_required_field_are_422(
    client: TestClient, shapes: str, path: str, body: dict[str, Any], field: str
) -> None:
    response = client.post(path.replace("shapes", shapes), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "validation_error"
    assert field in response.json()["fields"]


def test_saved_glossary_and_caption_survive_typos(client: TestClient, shapes: str) -> None:
    assert client.post("/glossaries", json={"name": "kept", "glossary": "a: b"}).status_code == 200
    client.post("/glossaries", json={"name": "kept", "glosary": "typo"})
    assert client.get("/glossaries/kept").json()["glossary"] == "a: b"
    caption = f"/datasets/{shapes}/text_labels/train_0000.png"
    assert client.post(caption, json={"caption": "a red square"}).status_code == 200
    client.post(caption, json={"captoin": "typo"})
    assert client.get(caption).json()["caption"] == "a red square"


# --- wrong kinds of body --------------------------------------------------------------------------
@pytest.mark.parametrize("family", ["yolo", "rfdetr"])
def test_image_bytes_or_multipart_on_a_json_route_is_415(
    client: TestClient, settings: Settings, family: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    raw = client.post(f"/{family}/predict_full", content=JPEG_MARK, headers={"Content-Type": "image/jpeg"})
    multipart = client.post(f"/{family}/predict_full", files={"file": ("a.jpg", JPEG_MARK, "image/jpeg")})
    for response in (raw, multipart):
        assert response.status_code == 415, response.text
        body = response.json()
        assert body["detail"] == "image_json_required"
        assert "image_base64" in body["message"] and "image_token" in body["message"]
        assert "SECRET-BODY" not in response.text
    logged = caplog.text + (settings.logs_dir / "tator.log").read_text(errors="replace")
    assert "SECRET-BODY" not in logged and "Traceback" not in logged


def test_non_json_body_on_other_routes_is_415_json_body_required(client: TestClient, shapes: str) -> None:
    response = client.post(f"/datasets/{shapes}/glossary", content=b"car: cars", headers={"Content-Type": "text/plain"})
    assert (response.status_code, response.json()["detail"]) == (415, "json_body_required")


def test_broken_json_is_422_json_invalid(client: TestClient) -> None:
    response = client.post("/detectors/default", content=b"{mode: yolo", headers={"Content-Type": "application/json"})
    assert (response.status_code, response.json()["detail"]) == (422, "json_invalid")


# --- one error shape, the contract's codes kept ---------------------------------------------------
@pytest.mark.parametrize("family", ["yolo", "rfdetr"])
def test_detector_predict_without_an_image_is_422_image_required(client: TestClient, family: str) -> None:
    response = client.post(f"/{family}/predict_full", json={"conf": 0.5})
    assert (response.status_code, response.json()["detail"]) == (422, "image_required")
    assert "image_base64" in response.json()["message"]
    assert response.json()["fields"] == ["image_base64", "image_token"]
    empty = client.post(f"/{family}/predict_full", json={"image_base64": ""})
    assert (empty.status_code, empty.json()["detail"]) == (428, "image_payload_missing")


def test_validation_error_names_fields_and_ranges(client: TestClient) -> None:
    response = client.post("/yolo/train/jobs", json={"dataset_id": "x", "accept_tos": True, "epochs": 0})
    body = response.json()
    assert (response.status_code, body["detail"], body["fields"]) == (422, "validation_error", ["epochs"])
    assert "epochs" in body["message"] and "greater than or equal to 1" in body["message"]
    assert body["problems"] == ["epochs: Input should be greater than or equal to 1"]


# --- unknown fields are named, not silently dropped -----------------------------------------------
def test_unknown_field_is_named_in_the_answer(client: TestClient) -> None:
    response = client.post("/detectors/default", json={"mode": "yolo", "colour": "red"})
    assert response.status_code == 200
    assert response.json() == {"mode": "yolo", "ignored_fields": ["colour"]}
    assert response.headers["x-tator-ignored-fields"] == "colour"
    plain = client.post("/detectors/default", json={"mode": "yolo"})
    assert "ignored_fields" not in plain.json() and "x-tator-ignored-fields" not in plain.headers


def test_bbox_instead_of_bbox_xyxy_is_named_even_when_the_call_fails(client: TestClient) -> None:
    response = client.post("/predict_base64", json={"image_base64": png_b64(), "bbox": [0, 0, 5, 5]})
    assert response.headers["x-tator-ignored-fields"] == "bbox"
    assert response.json()["ignored_fields"] == ["bbox"]


def test_unknown_upload_form_field_is_named(client: TestClient, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path)
    meta = upload(client, archive, name="my shapes").json()
    assert meta["ignored_fields"] == ["name"] and "ignored_fields" in meta["warnings"]


def test_reversed_box_is_refused(client: TestClient) -> None:
    response = client.post("/predict_base64", json={"image_base64": png_b64(), "bbox_xyxy": [20, 2, 5, 10]})
    assert (response.status_code, response.json()["detail"]) == (400, "bbox_invalid")
    assert "x2 >= x1" in response.json()["message"]
    crop = client.post("/crop_zip_init").json()["jobId"]
    box = {"x": 5, "y": 5, "width": -3, "height": 4}
    chunk = client.post(
        f"/crop_zip_chunk?jobId={crop}", json={"images": [{"image_base64": png_b64(), "bboxes": [box]}]}
    )
    assert chunk.status_code == 422 and chunk.json()["fields"] == ["images.0.bboxes.0.width"]


# --- checks before queueing -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "field"),
    [({"mosaic": 2.0}, "mosaic"), ({"degrees": 400}, "degrees"), ({"rect": 3}, "rect"), ({"lr0": "fast"}, "lr0")],
)
def test_training_option_ranges_are_checked_at_the_request(
    client: TestClient, shapes: str, options: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/yolo/train/jobs", json={"dataset_id": shapes, "accept_tos": True, "augmentations": options}
    )
    assert (response.status_code, response.json()["detail"]) == (422, "validation_error"), response.text
    assert f"augmentations.{field}" in response.json()["message"]
    assert client.get("/jobs").json()["total"] == 0


def test_zip_without_a_layout_is_refused_with_the_accepted_layouts(client: TestClient, tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    (loose / "holiday").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(loose / "holiday" / "a.png")
    response = upload(client, zip_tree(loose, tmp_path / "loose.zip"))
    body = response.json()
    assert (response.status_code, body["detail"]) == (400, "dataset_format_unrecognized")
    assert any(layout.startswith("yolo_split") for layout in body["accepted_layouts"])
    assert client.get("/datasets").json() == []


def test_reupload_under_a_taken_id_says_so(client: TestClient, shapes: str, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path / "again")
    meta = upload(client, archive, dataset_id=shapes).json()
    assert meta["id"] == "shapes_1" and meta["requested_dataset_id"] == "shapes"
    assert meta["warnings"] == ["dataset_id_taken"] and "DELETE /datasets/shapes" in meta["notice"]


# --- messages say what to do next -----------------------------------------------------------------
def test_active_missing_names_the_route_to_call(client: TestClient) -> None:
    response = client.post("/yolo/predict_full", json={"image_base64": png_b64()})
    assert (response.status_code, response.json()["detail"]) == (412, "yolo_active_missing")
    assert "POST /yolo/active" in response.json()["message"]


def test_undecodable_image_message_names_no_library_internals(client: TestClient) -> None:
    junk = base64.b64encode(b"this is not an image at all").decode()
    response = client.post("/predict_base64", json={"image_base64": junk})
    assert (response.status_code, response.json()["detail"]) == (400, "invalid_image")
    assert "Error" not in response.json()["message"] and "PNG" in response.json()["message"]


def test_form_routes_keep_their_validation_errors(client: TestClient) -> None:
    response = client.post("/clip/train", data={"dataset_id": "shapes", "classifier_type": "svm"})
    assert (response.status_code, response.json()["detail"]) == (422, "validation_error")
    assert response.json()["fields"] == ["classifier_type"]
    rename = client.post("/clip/classifiers/rename", data={"new_name": "x"})
    assert (rename.status_code, rename.json()["fields"]) == (422, ["rel_path"])


def test_every_json_body_route_notes_ignored_fields(tmp_path: Path) -> None:
    """The notice is taken from the route's own parse of the body (NoticingRoute), so a JSON-body route
    outside the domain routers would silently drop it."""
    from tator.api.ignored_fields import NoticingRoute
    from tator.api.validation import body_model
    from tator.app import create_app

    def flat(routes: list[Any]) -> list[Any]:  # FastAPI keeps an included router as one entry
        nested = [flat(r.original_router.routes) for r in routes if hasattr(r, "original_router")]
        return [r for r in routes if not hasattr(r, "original_router")] + [r for group in nested for r in group]

    app = create_app(Settings(data_dir=tmp_path / "data"))
    routes = [r for r in flat(app.routes) if body_model(r) is not None]
    assert len(routes) > 50
    assert [r.path for r in routes if not isinstance(r, NoticingRoute)] == []  # type: ignore[attr-defined]

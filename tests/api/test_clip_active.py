"""`/clip/active_model` (validation rules, persistence across restarts) and `/predict_base64`."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from tator.app import create_app
from tator.settings import Settings
from tests.clip.support import embed_settings, png_b64, tiny_embedders, write_head

__all__ = ["tiny_embedders"]  # the session fixture, imported for pytest


def test_active_model_rules_persistence_and_predict(tmp_path: Path, tiny_embedders: dict[str, Path]) -> None:
    settings = embed_settings(tmp_path, tiny_embedders)
    embedders = settings.uploads_dir / "embedders"
    classifiers, labelmaps = settings.uploads_dir / "classifiers", settings.uploads_dir / "labelmaps"
    clip_meta = {"encoder_type": "clip", "encoder_model": str(embedders / "clip"), "clip_model": "ViT-B/32"}
    write_head(classifiers, "good.npz", meta=clip_meta)
    write_head(classifiers, "wide.npz", dim=64, meta=clip_meta)
    write_head(classifiers, "legacy.npz", classes=("0", "1"), meta={"legacy_index_classes": True, **clip_meta})
    write_head(classifiers, "dino.npz", meta={"encoder_type": "dinov3", "encoder_model": str(embedders / "dinov3")})
    labelmaps.mkdir(parents=True, exist_ok=True)
    (labelmaps / "match.txt").write_text("green_circle\nred_square\n")
    (labelmaps / "other.txt").write_text("cat\ndog\n")
    image = png_b64(Image.new("RGB", (64, 48), (200, 30, 30)))
    with TestClient(create_app(settings)) as client:
        idle = client.get("/clip/active_model").json()
        assert idle["clip_ready"] is False and idle["classifier_path"] is None
        unavailable = client.post("/predict_base64", json={"image_base64": image, "uuid": "u1"})
        assert unavailable.status_code == 200 and unavailable.json()["error"] == "clip_unavailable"
        assert unavailable.json()["uuid"] == "u1"
        refusals = [
            ({}, 400, "classifier_required"),
            ({"classifier_path": "missing.npz"}, 404, "classifier_not_found"),
            ({"classifier_path": "../x.npz"}, 400, "classifier_path_not_allowed"),
            ({"classifier_path": "wide.npz"}, 400, "dimension_mismatch"),
            ({"classifier_path": "legacy.npz"}, 400, "labelmap_required_for_classifier"),
            ({"classifier_path": "good.npz", "labelmap_path": "other.txt"}, 400, "labelmap_classifier_class_mismatch"),
            ({"classifier_path": "good.npz", "labelmap_path": "none.txt"}, 404, "labelmap_not_found"),
            ({"classifier_path": "good.npz", "clip_model": "/etc"}, 400, "clip_model_not_allowed"),
        ]
        for body, status, code in refusals:
            response = client.post("/clip/active_model", json=body)
            assert (response.status_code, response.json()["detail"]) == (status, code), (body, response.text)
        active = client.post("/clip/active_model", json={"classifier_path": "good.npz", "labelmap_path": "match.txt"})
        assert active.status_code == 200, active.text
        body = active.json()
        assert body["clip_ready"] and body["encoder_ready"] and body["classifier_path"] == str(classifiers / "good.npz")
        assert body["labelmap_entries"] == ["red_square", "green_circle"] and body["encoder_type"] == "clip"
        kept = client.post("/clip/active_model", json={"logit_adjustment_inference": True}).json()
        assert kept["labelmap_path"] == str(labelmaps / "match.txt") and kept["logit_adjustment_inference"] is True
        first = client.post("/predict_base64", json={"image_base64": image, "bbox_xyxy": [4, 4, 40, 40]}).json()
        assert first["error"] is None and first["prediction"] in ("red_square", "green_circle", "background")
        assert 0.0 <= first["proba"] <= 1.0 and first["margin"] >= 0.0
        by_token = client.post("/predict_base64", json={"image_token": first["image_token"], "background_guard": False})
        assert by_token.json()["prediction"] in ("red_square", "green_circle")
        bad_box = client.post("/predict_base64", json={"image_token": first["image_token"], "bbox_xyxy": [1, 2]})
        assert (bad_box.status_code, bad_box.json()["detail"]) == (400, "bbox_invalid")
        legacy = client.post("/clip/active_model", json={"classifier_path": "legacy.npz", "labelmap_path": "other.txt"})
        assert legacy.json()["labelmap_entries"] == ["cat", "dog"], legacy.text
        dino = client.post("/clip/active_model", json={"classifier_path": "dino.npz", "labelmap_path": None})
        assert dino.status_code == 200 and dino.json()["encoder_type"] == "dinov3" and not dino.json()["clip_ready"]
        renamed = client.post("/clip/classifiers/rename", data={"rel_path": "dino.npz", "new_name": "dino2"}).json()
        assert renamed["status"] == "renamed"
    with TestClient(create_app(settings)) as client:  # a restart keeps the selection
        after = client.get("/clip/active_model").json()
        assert after["classifier_rel_path"] == "dino2.npz" and after["encoder_ready"], after
        assert client.post("/predict_base64", json={"image_base64": image}).json()["error"] is None
        assert [m["family"] for m in client.get("/models").json()["items"]] == ["dinov3"]
        client.delete("/clip/classifiers", params={"rel_path": "dino2.npz"})
        assert client.get("/clip/active_model").json()["classifier_path"] is None
        assert client.get("/models").json()["total"] == 0  # the deleted head's backbone is unloaded


def test_predict_base64_waits_for_the_decode_budget_then_503(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", device="cpu", decode_pixel_budget=10_000, decode_wait_s=0.05)
    image = png_b64(Image.new("RGB", (64, 48), (200, 30, 30)))
    with TestClient(create_app(settings, loaders={})) as client:
        budget = client.app.state.tator.images.limits.budget  # type: ignore[attr-defined]
        held = budget.try_acquire(budget.max_units, timeout=0)  # other requests are decoding
        busy = client.post("/predict_base64", json={"image_base64": image})
        assert (busy.status_code, busy.json()["detail"]) == (503, "decode_busy")
        assert client.get("/healthz").status_code == 200
        budget.release(held)
        assert client.post("/predict_base64", json={"image_base64": image}).status_code == 200

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.sam3.support import big_image, sam_client, shapes_image

__all__ = ["big_image", "sam_client"]


def test_preload_embeds_once_and_prompts_reuse_it(sam_client: TestClient, big_image: str) -> None:
    request = {"image_base64": big_image, "preload_generation": 1, "image_name": "a"}
    first = sam_client.post("/sam_preload", json=request)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["status"], body["width"], body["height"], body["image_cache_hit"]) == ("ready", 3000, 2000, False)
    assert body["backend"] == "transformers" and body["device"] == "cpu"
    again = sam_client.post("/sam_preload", json={"image_token": body["token"], "preload_generation": 2})
    assert again.json()["image_cache_hit"] is True
    point = sam_client.post("/sam_point", json={"image_token": body["token"], "point_x": 1200, "point_y": 700})
    assert point.status_code == 200
    assert sam_client.app.state.tator.sam.cache.computed == 1  # type: ignore[attr-defined]
    slots = {s["slot"]: s for s in sam_client.get("/sam_slots").json()}
    assert slots["current"]["token"] == body["token"] and slots["current"]["memory_bytes"] > 0
    assert slots["current"]["busy"] is False and slots["next"]["token"] is None


def test_runtime_unload_drops_embeddings_and_empties_slots(sam_client: TestClient, big_image: str) -> None:
    request = {"image_base64": big_image, "preload_generation": 3, "image_name": "a"}
    token = sam_client.post("/sam_preload", json=request).json()["token"]
    unloaded = sam_client.post("/runtime/unload")
    assert unloaded.status_code == 200 and unloaded.json()["sam_embeddings_cleared"] == 1
    sam = sam_client.app.state.tator.sam  # type: ignore[attr-defined]
    assert len(sam.cache) == 0 and sam.cache.nbytes == 0
    slots = {s["slot"]: s for s in sam_client.get("/sam_slots").json()}
    assert slots["current"]["token"] is None and slots["current"]["memory_bytes"] == 0
    stale = sam_client.post("/sam_preload", json={"image_token": token, "preload_generation": 2})
    assert stale.status_code == 409  # generations survive the unload
    again = sam_client.post("/sam_preload", json={"image_token": token, "preload_generation": 4})
    assert again.json()["image_cache_hit"] is False and sam.cache.computed == 2
    assert sam_client.post("/runtime/unload").json()["sam_embeddings_cleared"] == 1


def test_stale_generations_and_slot_rules(sam_client: TestClient, big_image: str) -> None:
    small = shapes_image(320, 240, box=(10, 10, 100, 100))
    assert sam_client.post("/sam_preload", json={"image_base64": small, "preload_generation": 5}).status_code == 200
    stale = sam_client.post("/sam_preload", json={"image_base64": big_image, "preload_generation": 4})
    assert (stale.status_code, stale.json()["detail"]) == (409, "preload_superseded")
    current = {s["slot"]: s for s in sam_client.get("/sam_slots").json()}["current"]
    assert (current["width"], current["height"]) == (320, 240)  # the stale image never replaced it
    unnamed = sam_client.post("/sam_preload", json={"image_base64": small, "slot": "next"})
    assert (unnamed.status_code, unnamed.json()["detail"]) == (422, "image_name_required_for_slot")
    named = sam_client.post("/sam_preload", json={"image_base64": big_image, "slot": "next", "image_name": "b.png"})
    assert named.status_code == 200
    activated = sam_client.post("/sam_activate_slot", json={"image_name": "b.png"})
    assert activated.json() == {"status": "ok", "slot": "current", "token": named.json()["token"]}
    slots = {s["slot"]: s for s in sam_client.get("/sam_slots").json()}
    assert slots["current"]["image_name"] == "b.png" and slots["next"]["width"] == 320
    missing = sam_client.post("/sam_activate_slot", json={"image_name": "nope.png"})
    assert (missing.status_code, missing.json()["detail"]) == (404, "slot_not_found")


def test_predictor_settings_bound_the_slots(sam_client: TestClient, big_image: str) -> None:
    settings = sam_client.get("/predictor_settings").json()
    assert settings["max_predictors"] == 3 and settings["active_predictors"] == 3
    sam_client.post("/sam_preload", json={"image_base64": big_image, "slot": "previous", "image_name": "p"})
    assert sam_client.get("/predictor_settings").json()["loaded_predictors"] == 1
    one = sam_client.post("/predictor_settings", json={"max_predictors": 1}).json()
    assert (one["max_predictors"], one["active_predictors"], one["loaded_predictors"]) == (1, 1, 0)
    disabled = sam_client.post("/sam_preload", json={"image_base64": big_image, "slot": "next", "image_name": "n"})
    assert (disabled.status_code, disabled.json()["detail"]) == (409, "slot_disabled")
    assert sam_client.post("/predictor_settings", json={"max_predictors": 4}).status_code == 422
    assert sam_client.post("/predictor_settings", json={"max_predictors": 0}).status_code == 422

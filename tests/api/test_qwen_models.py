"""Qwen model selection and runtime routes on the tiny zoo: models, activate, status, settings, unload."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from tator.app import create_app
from tests.qwen.support import qwen_settings


def _fake_finetune(runs: Path, run_id: str, base: Path, *, complete: bool) -> None:
    run = runs / run_id
    (run / "adapter").mkdir(parents=True)
    meta = {"id": run_id, "label": f"tuned {run_id}", "base_model": str(base), "created_at": 1.0}
    (run / "metadata.json").write_text(json.dumps(meta))
    if complete:
        (run / "adapter" / "adapter_config.json").write_text("{}")
        (run / "adapter" / "adapter_model.safetensors").write_bytes(b"")


def test_models_activate_persist_and_reset(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    settings = qwen_settings(tmp_path, tiny_zoo)
    runs = settings.uploads_dir / "qwen_runs"
    _fake_finetune(runs, "broken", tiny_zoo["qwen3_vl"], complete=False)
    _fake_finetune(runs, "tuned", tiny_zoo["qwen3_vl"], complete=True)
    (runs / "datasets").mkdir()
    with TestClient(create_app(settings)) as client:
        listing = client.get("/qwen/models").json()
        assert listing["active"] == "default"
        by_id = {m["id"]: m for m in listing["models"]}
        assert set(by_id) == {"default", "qwen2_5_vl", "broken", "tuned"}
        assert by_id["default"]["type"] == "builtin" and by_id["default"]["metadata"]["model_family"] == "qwen3_vl"
        assert by_id["qwen2_5_vl"]["metadata"]["model_family"] == "qwen2_5_vl"
        assert by_id["tuned"]["type"] == "finetune" and by_id["tuned"]["available"] is True
        assert by_id["tuned"]["path"].endswith("tuned/adapter") and by_id["tuned"]["metadata"]["label"] == "tuned tuned"
        assert by_id["broken"]["available"] is False
        models = client.get("/system/health_summary").json()["models"]
        assert models["qwen_models"] == 1 and models["qwen"]["active_model"] == "default"
        for body, status, code in [
            ({}, 400, "model_id_required"),
            ({"model_id": " "}, 400, "model_id_required"),
            ({"model_id": "nope"}, 404, "qwen_model_not_found"),
            ({"model_id": "broken"}, 404, "qwen_model_missing_checkpoint"),
        ]:
            response = client.post("/qwen/models/activate", json=body)
            assert (response.status_code, response.json()["detail"]) == (status, code), body
        assert client.post("/qwen/models/activate", json={"model_id": "bogus", "x": 1}).status_code == 422
        activated = client.post("/qwen/models/activate", json={"model_id": "qwen2_5_vl"})
        assert activated.status_code == 200 and activated.json()["active"] == "qwen2_5_vl"
        assert client.post("/qwen/models/activate", json={"model_id": "tuned"}).json()["active"] == "tuned"
    with TestClient(create_app(settings)) as client:  # the selection survives a restart
        assert client.get("/qwen/status").json()["active_model"] == "tuned"
        (runs / "tuned" / "adapter" / "adapter_model.safetensors").unlink()
        status = client.get("/qwen/status").json()  # a vanished adapter resets the selection
        assert status["active_model"] == "default" and status["model_family"] == "qwen3_vl"
        assert client.get("/qwen/models").json()["active"] == "default"


def test_status_settings_unload_progress_cancel(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    settings = qwen_settings(tmp_path, tiny_zoo, qwen_min_pixels=64 * 64, qwen_max_pixels=128 * 128)
    with TestClient(create_app(settings)) as client:
        status = client.get("/qwen/status").json()
        assert status["available"] is True and status["loaded"] is False and status["dependency_error"] is None
        assert (status["min_pixels"], status["max_pixels"], status["max_new_tokens"]) == (4096, 16384, 8)
        assert client.get("/qwen/settings").json()["trust_remote_code"] is False
        bad = [
            ({"bbox_template": "find {items}"}, 400, "qwen_template_invalid"),
            ({"inference_platform": "mlx_vlm"}, 400, "qwen_platform_unavailable"),
            ({"min_pixels": 100, "max_pixels": 10}, 400, "qwen_settings_invalid"),
        ]
        for body, code, detail in bad:
            response = client.post("/qwen/settings", json=body)
            assert (response.status_code, response.json()["detail"]) == (code, detail), body
        assert client.post("/qwen/settings", json={"inference_platform": "cloud"}).status_code == 422
        saved = client.post("/qwen/settings", json={"max_pixels": 20000}).json()
        assert saved["max_pixels"] == 20000 and saved["trust_remote_code"] is False
        assert client.get("/qwen/status").json()["max_pixels"] == 20000
        client.post("/qwen/infer", json={"image_base64": _png(), "prompt": "hi", "max_new_tokens": 2})
        assert client.get("/qwen/status").json()["loaded"] is True
        client.post("/qwen/settings", json={"trust_remote_code": True})  # unloads
        assert client.get("/qwen/status").json()["loaded"] is False
        assert client.get("/qwen/settings").json()["max_pixels"] == 20000  # partial updates keep the rest
        assert client.post("/qwen/unload").json()["status"] == "unloaded"
        progress = client.get("/qwen/progress").json()
        assert progress["running"] is False and progress["last"]["op"] == "infer" and progress["last"]["tokens"] >= 1
        idle = {"status": "cancelling", "cancelled": 0, "generations": [], "force": True}
        assert client.post("/qwen/cancel?force=true").json() == idle


def _png() -> str:
    from PIL import Image

    from tests.qwen.support import png_b64

    return png_b64(Image.new("RGB", (96, 64), (30, 160, 40)))


def test_load_failures_are_clear_codes(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    settings = qwen_settings(
        tmp_path, tiny_zoo, qwen_base_model="Qwen/Not-Downloaded-VL", qwen_extra_models=[str(tiny_zoo["clip"])]
    )
    with TestClient(create_app(settings)) as client:
        missing = client.post("/qwen/infer", json={"image_base64": _png(), "prompt": "x"})
        # Offline, weights that are not on disk are the one code every family answers, naming the model.
        assert (missing.status_code, missing.json()["detail"]) == (503, "model_weights_unavailable")
        assert missing.json()["model"] == "Qwen/Not-Downloaded-VL" and missing.json()["how_to_provide"]
        assert client.get("/qwen/status").json()["last_error"]
        not_qwen = client.post("/qwen/infer", json={"image_base64": _png(), "prompt": "x", "model_id": "clip"})
        assert (not_qwen.status_code, not_qwen.json()["detail"]) == (400, "qwen_model_unsupported")

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings


@pytest.fixture
def tiny_client(tmp_path: Path, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path) -> Iterator[TestClient]:
    assert tiny_zoo
    settings = Settings(data_dir=tmp_path / "data", device="cpu", model_zoo="tiny")
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, settings.uploads_dir / "zoo")  # reuse the session's zoo, built once
    with TestClient(create_app(settings)) as client:
        yield client


def test_tiny_zoo_is_the_base_and_preload_unload_round_trip(tiny_client: TestClient, tiny_zoo: dict[str, Path]) -> None:
    base = tiny_client.get("/models/base").json()
    assert base["yolo"]["source"] == str(tiny_zoo["yolo"]) and base["qwen"]["source"] == str(tiny_zoo["qwen3_vl"])
    assert all(entry["local"] and entry["origin"] == "local_path" for entry in base.values()), base
    loaded = tiny_client.post("/models/preload", json={"family": "yolo"}).json()
    assert loaded["family"] == "yolo" and loaded["device"] == "cpu" and loaded["bytes"] > 0
    again = tiny_client.post("/models/preload", json={"family": "yolo"}).json()
    assert again["loaded_at"] == loaded["loaded_at"]  # resident: not loaded twice
    assert tiny_client.app.state.tator.registry.load_count == 1  # type: ignore[attr-defined]
    assert tiny_client.post("/runtime/unload").json()["unloaded"] == [loaded["key"]]


def test_preload_unknown_family_is_a_400(client: TestClient) -> None:
    response = client.post("/models/preload", json={"family": "nope"})
    assert (response.status_code, response.json()["detail"]) == (400, "model_family_unknown")
    assert client.post("/models/preload", json={"family": "yolo", "source": "/etc/passwd"}).status_code == 422


def test_hub_base_models_say_where_weights_come_from_and_refuse_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", device="cpu", model_zoo="hub")
    with TestClient(create_app(settings)) as client:
        base = client.get("/models/base").json()
        assert base["clip"] == {"family": "clip", "source": "openai/clip-vit-base-patch32", "local": False,
                                "origin": "huggingface_hub", "path": None, "downloads_allowed": False}  # fmt: skip
        assert (base["yolo"]["origin"], base["rfdetr"]["origin"]) == ("ultralytics_release", "rfdetr_release")
        for family in ("clip", "yolo", "rfdetr"):
            refused = client.post("/models/preload", json={"family": family})
            body = refused.json()
            assert (refused.status_code, body["detail"]) == (503, "model_weights_unavailable"), body
            assert body["model"] == base[family]["source"] and "TATOR_MODEL_ZOO=tiny" in body["how_to_provide"]
        assert client.get("/models").json()["total"] == 0

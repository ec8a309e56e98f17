"""Where base-model weights come from, whether they are on this machine, and the error when they cannot be had."""

from __future__ import annotations

from pathlib import Path

import pytest

from tator.errors import ModelWeightsUnavailable
from tator.runtime.loaders import LoadedModel, ModelSpec
from tator.runtime.registry import ModelRegistry
from tator.runtime.weights import downloads_allowed, weights_status

OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "YOLO_OFFLINE")


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import huggingface_hub.constants

    cache = tmp_path / "hf"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def _cache_model(cache: Path, repo_id: str) -> Path:
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    return snapshot


def test_status_per_kind_of_source(hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    hub = weights_status("clip", "openai/clip-vit-base-patch32")
    assert (hub.local, hub.origin, hub.path) == (False, "huggingface_hub", None)
    snapshot = _cache_model(hf_cache, "openai/clip-vit-base-patch32")
    cached = weights_status("clip", "openai/clip-vit-base-patch32")
    assert (cached.local, cached.origin, cached.path) == (True, "huggingface_cache", str(snapshot))
    release = weights_status("yolo", "yolo26n.pt").as_dict()
    assert release == {"family": "yolo", "source": "yolo26n.pt", "local": False, "origin": "ultralytics_release",
                       "path": None}  # fmt: skip
    (tmp_path / "yolo26n.pt").write_bytes(b"w")
    assert weights_status("yolo", "yolo26n.pt").local
    assert weights_status("rfdetr", "rfdetr-nano").origin == "rfdetr_release"
    (tmp_path / "rf-detr-nano.pth").write_bytes(b"w")
    assert weights_status("rfdetr", "rfdetr-nano").path == str(tmp_path / "rf-detr-nano.pth")
    local = weights_status("yolo", str(tmp_path / "yolo26n.pt"))
    assert (local.local, local.origin) == (True, "local_path")


class _Loader:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls = 0
        self.error = error

    def __call__(self, spec: ModelSpec, device: str) -> LoadedModel:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return LoadedModel(value=object(), nbytes=1, device=device)


def test_offline_missing_hub_model_is_refused_before_the_library_runs(hf_cache: Path) -> None:
    assert not downloads_allowed()  # the test session runs with the offline switches
    loader = _Loader()
    registry = ModelRegistry({"clip": loader}, device=lambda: "cpu")
    with pytest.raises(ModelWeightsUnavailable) as caught:
        registry.get(ModelSpec("clip", "openai/clip-vit-base-patch32"))
    assert loader.calls == 0
    details = caught.value.details
    assert details["model"] == "openai/clip-vit-base-patch32" and details["downloads_allowed"] is False
    assert "TATOR_OFFLINE=0" in str(details["how_to_provide"]) and "TATOR_MODEL_ZOO=tiny" in caught.value.message
    _cache_model(hf_cache, "openai/clip-vit-base-patch32")  # once cached, the library is asked
    registry.get(ModelSpec("clip", "openai/clip-vit-base-patch32"))
    assert loader.calls == 1


@pytest.mark.usefixtures("hf_cache")
def test_a_failed_download_becomes_model_weights_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OFFLINE:
        monkeypatch.delenv(name, raising=False)
    assert downloads_allowed()
    loader = _Loader(OSError("We couldn't connect to the hub to load this model"))
    registry = ModelRegistry({"clip": loader}, device=lambda: "cpu")
    with pytest.raises(ModelWeightsUnavailable) as caught:
        registry.get(ModelSpec("clip", "openai/clip-vit-base-patch32"))
    assert loader.calls == 1 and "the download failed (OSError" in caught.value.message

"""Memory after `POST /runtime/unload` (issue 14): every model family of the tiny zoo loaded through the API, then
unloaded, leaves the process where it was before the load: RSS within 10% on the CPU, nothing allocated on a GPU."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings
from tests.support.server_process import ServerProcess, start_tator

FAMILIES = ("yolo", "rfdetr", "sam3", "sam3_tracker", "sam1", "clip", "dinov3", "qwen")


def _load_all(http: httpx.Client | TestClient) -> int:
    """Preload every family's base model; returns the bytes the registry says they hold."""
    total = 0
    for family in FAMILIES:
        loaded = http.post("/models/preload", json={"family": family}, timeout=300)
        assert loaded.status_code == 200, loaded.text
        total += int(loaded.json()["bytes"])
    assert http.get("/models").json()["total"] == len(FAMILIES)
    return total


def _unload_all(http: httpx.Client | TestClient) -> None:
    unloaded = http.post("/runtime/unload")
    assert unloaded.status_code == 200 and len(unloaded.json()["unloaded"]) == len(FAMILIES), unloaded.text
    assert http.get("/models").json()["total"] == 0


@pytest.fixture
def zoo_server(tmp_path: Path, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path) -> Iterator[ServerProcess]:
    assert tiny_zoo
    data_dir = tmp_path / "data"
    (data_dir / "uploads").mkdir(parents=True)
    os.symlink(tiny_zoo_dir, data_dir / "uploads" / "zoo")
    env = {"TATOR_MODEL_ZOO": "tiny", "TATOR_DEVICE": "cpu"}  # the default bounds keep every family resident
    server = start_tator(data_dir, env)
    try:
        server.wait_ready(timeout=60)
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_unload_returns_process_memory_after_every_family_was_loaded(zoo_server: ServerProcess) -> None:
    process = psutil.Process(zoo_server.process.pid)
    with httpx.Client(base_url=zoo_server.base_url, timeout=60) as http:
        # One cycle first: importing torch, transformers, ultralytics and rfdetr is resident for good; the model
        # memory is what must come back, so the pre-load level is taken with the libraries imported.
        _load_all(http)
        _unload_all(http)
        before = process.memory_info().rss
        model_bytes = _load_all(http)
        loaded = process.memory_info().rss
        _unload_all(http)
        after = process.memory_info().rss
    mib = 2**20
    assert model_bytes > 100 * mib  # the tiny RF-DETR alone holds ~114 MiB: the check is not on noise
    assert loaded - before > model_bytes // 2, (before // mib, loaded // mib, model_bytes // mib)
    assert after <= before * 1.10, f"RSS {before // mib} MiB before, {loaded // mib} loaded, {after // mib} after"


@pytest.mark.gpu
def test_unload_leaves_nothing_allocated_on_the_gpu(
    tmp_path: Path, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path
) -> None:
    import torch

    assert tiny_zoo
    settings = Settings(data_dir=tmp_path / "data", device="cuda", model_zoo="tiny")
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, settings.uploads_dir / "zoo")
    with TestClient(create_app(settings)) as client:
        _load_all(client)
        assert torch.cuda.memory_allocated() > 0
        assert all(m["device"].startswith("cuda") for m in client.get("/models").json()["items"])
        _unload_all(client)
        assert torch.cuda.memory_allocated() == 0

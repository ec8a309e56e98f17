from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.runtime.loaders import ModelSpec
from tator.settings import Settings
from tests.fakes import FakeLoader


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_gpu_report_shape_without_gpu(client: TestClient) -> None:
    body = client.get("/system/gpu").json()
    assert set(body) >= {"available", "device_count", "devices"}
    if not body["available"]:
        assert body["device_count"] == 0 and body["devices"] == []


def test_storage_check_probes_every_root(client: TestClient, settings: Settings) -> None:
    body = client.get("/system/storage_check").json()
    names = {root["name"] for root in body["roots"]}
    assert {"uploads", "dataset_registry", "yolo_runs", "rfdetr_runs", "calibration_jobs", "logs"} <= names
    assert body["ok"] is True
    assert (settings.uploads_dir / "yolo_runs").is_dir()
    assert not any(p.name.startswith(".probe") for p in settings.uploads_dir.rglob("*"))


def test_storage_check_reports_symlinked_root_and_does_not_write_through(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", device="cpu")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(outside, settings.uploads_dir / "yolo_runs")
    with TestClient(create_app(settings, loaders={})) as client:
        body = client.get("/system/storage_check").json()
        summary = client.get("/system/health_summary").json()
    yolo = next(r for r in body["roots"] if r["name"] == "yolo_runs")
    assert (yolo["ok"], yolo["error"]) == (False, "storage_root_symlink")
    assert body["ok"] is False
    assert list(outside.iterdir()) == []
    assert summary["ok"] is False and any(e.startswith("storage_failed") for e in summary["errors"])


def test_health_summary_shape(client: TestClient, settings: Settings) -> None:
    (settings.uploads_dir / "datasets" / "ds1").mkdir(parents=True)
    (settings.uploads_dir / "datasets" / ".trash").mkdir(parents=True)
    body = client.get("/system/health_summary").json()
    assert body["ok"] is True and body["errors"] == []
    assert body["datasets"] == {"count": 1}
    assert {"sam3_runs", "qwen_models", "clip_classifiers", "yolo_runs", "rfdetr_runs"} <= set(body["models"])
    # The contract's variant counts: as many as GET /<family>/variants lists.
    assert body["models"]["yolo_variants"] == len(client.get("/yolo/variants").json()) > 0
    assert body["models"]["rfdetr_variants"] == len(client.get("/rfdetr/variants").json()) > 0
    assert "available" in body["gpu"] and "roots" in body["storage"]
    assert body["jobs"]["active"] == 0


def test_runtime_unload_drops_loaded_models(client: TestClient, fake_loader: FakeLoader) -> None:
    registry = client.app.state.tator.registry  # type: ignore[attr-defined]
    registry.get(ModelSpec("fake", "a"))
    registry.get(ModelSpec("fake", "b"))
    assert client.get("/models").json()["total"] == 2
    body = client.post("/runtime/unload").json()
    assert body["status"] == "unloaded"
    assert sorted(body["unloaded"]) == ["fake:a", "fake:b"]
    assert sorted(fake_loader.released) == ["fake:a", "fake:b"]
    assert client.get("/models").json()["total"] == 0


def test_metrics_exposes_requests_and_state(client: TestClient) -> None:
    client.get("/healthz")
    text = client.get("/metrics").text
    assert 'tator_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert "tator_models_loaded 0.0" in text
    assert "tator_jobs_active 0.0" in text


def test_app_start_imports_no_model_library(settings: Settings) -> None:
    heavy = ("ultralytics", "rfdetr", "transformers", "xgboost")
    if any(name in sys.modules for name in heavy):
        pytest.skip(
            "another test in this process imported a model library; tests/test_server_process.py checks a clean start"
        )
    with TestClient(create_app(settings, loaders={})) as client:
        client.get("/system/health_summary")
    assert not any(name in sys.modules for name in heavy)

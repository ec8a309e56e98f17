"""Shared pieces of the prepass tests: an app on the tiny zoo with active YOLO and RF-DETR runs, a head."""

from __future__ import annotations

import base64
import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tator.app import create_app
from tator.settings import Settings
from tests.api.test_detectors import CLASSES, make_run
from tests.clip.support import write_head

__all__ = ["CLASSES", "FAST", "image_b64", "prepass_client"]

# Knobs that make the tiny random models answer with boxes quickly (128 px images).
FAST = {
    "detector_conf": 0.0001, "sahi_window_size": 96, "prepass_sam3_text_thr": 0.0, "sam3_max_results": 5,
    "grid_cols": 2, "grid_rows": 1, "similarity_min_exemplar_score": 0.0, "similarity_exemplar_count": 1,
    "similarity_window_extension": False,
}  # fmt: skip


def image_b64(seed: int = 0, size: int = 128) -> str:
    pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def install_head(uploads: Path, tiny_zoo: dict[str, Path]) -> None:
    encoder = uploads / "embedders" / "clip"
    shutil.copytree(tiny_zoo["clip"], encoder)
    meta = {"encoder_type": "clip", "encoder_model": str(encoder), "clip_model": "ViT-B/32"}
    write_head(uploads / "classifiers", "head.npz", classes=(*CLASSES[:2], "__bg_0"), meta=meta)


@pytest.fixture(scope="module")
def prepass_client(
    tmp_path_factory: pytest.TempPathFactory, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path
) -> Iterator[TestClient]:
    """Active YOLO + RF-DETR runs, SAM3 from the tiny zoo, a head file `head.npz` (not active); one app per
    module (the models load once)."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("prepass") / "data", device="cpu", model_zoo="tiny", log_level="WARNING"
    )
    uploads = settings.uploads_dir
    uploads.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, uploads / "zoo")
    make_run(uploads / "yolo_runs", "run1", tiny_zoo["yolo"], "best.pt")
    make_run(uploads / "rfdetr_runs", "rf1", tiny_zoo["rfdetr"], "checkpoint_best_total.pth")
    install_head(uploads, tiny_zoo)
    with TestClient(create_app(settings)) as client:
        for family, run in (("yolo", "run1"), ("rfdetr", "rf1")):
            assert client.post(f"/{family}/active", json={"run_id": run}).status_code == 200
        yield client


def killed_during_prepass(
    tmp_path: Path, yolo_weights: Path, route: str, body: dict[str, Any], *, status: int, killed_after: int
) -> tuple[Path, dict[str, Any]]:
    """A real server with the tiny YOLO active and a 9-image dataset `shapes`: `route` is posted with `body`,
    and the server is SIGKILLed once the dataset prepass has finished `killed_after` images. Returns the data
    dir and the start answer."""
    import httpx

    from tests.datasets.zips import yolo_zip
    from tests.support.crash import kill_when_paused, start, upload

    data_dir = tmp_path / "data"
    make_run(data_dir / "uploads" / "yolo_runs", "run1", yolo_weights, "best.pt")
    archive, _ = yolo_zip(tmp_path)
    server = start(data_dir, pause_at=f"prepass.dataset.image_done.{killed_after - 1}")
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert http.post("/yolo/active", json={"run_id": "run1"}).status_code == 200
        assert upload(http, archive, dataset_id="shapes").status_code == 200
        started = http.post(route, json=body)
        assert started.status_code == status, started.text
    kill_when_paused(server, data_dir)
    return data_dir, dict(started.json())

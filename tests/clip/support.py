"""Helpers shared by the classifier-head tests: tiny-zoo apps, synthetic datasets, head files."""

from __future__ import annotations

import base64
import io
import shutil
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tator.clip.head import build_head, save_head
from tator.settings import Settings
from tator.zoo.synthetic import SyntheticDataset, make_detection_dataset
from tator.zoo.tiny_embed import build_tiny_clip, build_tiny_dinov3

TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")


@pytest.fixture(scope="session")
def tiny_embedders(model_config_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Only the tiny zoo's CLIP and DINOv3. The full zoo would import ultralytics, which patches
    `PIL.Image.open` process-wide and changes how later tests see undecodable images."""
    assert model_config_dir.is_dir()
    root = tmp_path_factory.mktemp("embedders")
    return {"clip": build_tiny_clip(root / "clip", seed=0), "dinov3": build_tiny_dinov3(root / "dinov3", seed=0)}


def embed_settings(tmp_path: Path, embedders: dict[str, Path]) -> Settings:
    """Settings for an app whose backbones are the tiny embedders, copied into the data dir (backbone
    folders must lie inside it); requests name them `embedders/clip` and `embedders/dinov3`."""
    settings = Settings(data_dir=tmp_path / "data", device="cpu", log_level="WARNING")
    for family, source in embedders.items():
        dest = settings.uploads_dir / "embedders" / family
        if not dest.exists():
            shutil.copytree(source, dest)
    return settings


CLIP = {"encoder_type": "clip", "clip_model_name": "embedders/clip"}
DINO = {"encoder_type": "dinov3", "encoder_model": "embedders/dinov3"}


def shapes_zip(
    tmp_path: Path, *, n_train: int = 24, n_val: int = 8, name: str = "shapes"
) -> tuple[Path, SyntheticDataset]:
    ds = make_detection_dataset(tmp_path / f"src-{name}" / name, n_train=n_train, n_val=n_val, image_size=128)
    archive = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    return archive, ds


def upload_dataset(client: TestClient, archive: Path) -> dict[str, Any]:
    response = client.post("/datasets/upload", files={"file": (archive.name, archive.read_bytes(), "application/zip")})
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_job(client: TestClient, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = dict(client.get(f"/clip/train/{job_id}").json())
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def write_head(
    folder: Path,
    name: str,
    *,
    dim: int = 32,
    classes: Sequence[str] = ("red_square", "green_circle", "__bg_0"),
    meta: dict[str, Any] | None = None,
    seed: int = 0,
) -> Path:
    """A random logreg-shaped head file (safe format) under `folder`."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(len(classes), dim)).astype(np.float32)
    head = build_head(classes, [(weight, np.zeros(len(classes), np.float32))], activation="none", meta=meta or {})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    save_head(head, path)
    return path


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()

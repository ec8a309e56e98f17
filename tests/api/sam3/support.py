"""Shared fixtures of the SAM route tests: an app on the tiny zoo and synthetic images with known shapes."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tator.app import create_app
from tator.settings import Settings


def shapes_image(width: int, height: int, *, box: tuple[int, int, int, int], colour: int = 200) -> str:
    """Base64 PNG: dark background with one bright rectangle at pixel xyxy `box`."""
    pixels = np.full((height, width, 3), 20, dtype=np.uint8)
    x1, y1, x2, y2 = box
    pixels[y1:y2, x1:x2] = (colour, 40, 40)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture
def sam_client(tmp_path: Path, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path) -> Iterator[TestClient]:
    assert tiny_zoo
    settings = Settings(data_dir=tmp_path / "data", device="cpu", model_zoo="tiny", log_level="WARNING")
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, settings.uploads_dir / "zoo")  # reuse the session's zoo, built once
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def big_image() -> str:
    """3000 x 2000 with an object at pixels (1000, 600)-(1600, 1200)."""
    return shapes_image(3000, 2000, box=(1000, 600, 1600, 1200))

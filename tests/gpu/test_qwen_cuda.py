"""Qwen on CUDA: inference and windowed captions on the device (skipped without CUDA)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tator.app import create_app
from tests.qwen.support import png_b64, qwen_settings

pytestmark = pytest.mark.gpu


def test_qwen_infer_and_caption_on_cuda(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    settings = qwen_settings(tmp_path, tiny_zoo, device="cuda", qwen_min_pixels=64 * 64, qwen_max_pixels=128 * 128)
    image = png_b64(Image.new("RGB", (200, 150), (10, 90, 200)))
    with TestClient(create_app(settings)) as client:
        infer = client.post("/qwen/infer", json={"image_base64": image, "item_list": "cat"})
        assert infer.status_code == 200, infer.text
        assert client.get("/qwen/status").json()["device"].startswith("cuda")
        query = {"image_token": infer.json()["image_token"], "caption_mode": "windowed", "window_size": 100}
        caption = client.post("/qwen/caption", json=query)
        assert caption.status_code == 200 and len(caption.json()["windows"]) >= 2
        assert client.post("/qwen/unload").json()["unloaded"]

"""Shared pieces of the Qwen tests: settings pointing at the tiny zoo, and base64 images."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from PIL import Image

from tator.settings import Settings


def qwen_settings(tmp_path: Path, tiny_zoo: dict[str, Path], **overrides: Any) -> Settings:
    """A server on the tiny Qwen3-VL (base `default`) with the tiny Qwen2.5-VL listed as a second base."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "device": "cpu",
        "log_level": "WARNING",
        "qwen_base_model": str(tiny_zoo["qwen3_vl"]),
        "qwen_extra_models": [str(tiny_zoo["qwen2_5_vl"])],
        "qwen_max_new_tokens": 8,
        **overrides,
    }
    return Settings(**values)


def png_b64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()

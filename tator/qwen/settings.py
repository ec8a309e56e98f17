"""Runtime Qwen settings a client may change (`/qwen/settings`), persisted as JSON under the Qwen runs root.

Process limits (token cap, timeout) come from `tator.settings` and are not changeable over HTTP.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from tator.errors import QwenPlatformUnavailable, QwenSettingsInvalid, QwenTemplateInvalid
from tator.storage.files import atomic_write_json

SETTINGS_FILE = "settings.json"
PLACEHOLDERS = ("{items}", "{image_type}", "{extra_context}")
DEFAULT_BBOX_TEMPLATE = (
    "Locate every {items} in this {image_type}. {extra_context}\n"
    'Answer only with a JSON array: [{"bbox_2d": [x1, y1, x2, y2], "label": "<name>"}, ...].'
)
DEFAULT_POINT_TEMPLATE = (
    "Point to the centre of every {items} in this {image_type}. {extra_context}\n"
    'Answer only with a JSON array: [{"point_2d": [x, y], "label": "<name>"}, ...].'
)
_LOCK = threading.Lock()


class QwenSettings(BaseModel):
    trust_remote_code: bool = False
    inference_platform: Literal["auto", "transformers", "mlx_vlm"] = "auto"
    mlx_model_id: str | None = None
    min_pixels: int | None = Field(default=None, ge=1)
    max_pixels: int | None = Field(default=None, ge=1)
    bbox_template: str = DEFAULT_BBOX_TEMPLATE
    point_template: str = DEFAULT_POINT_TEMPLATE


def check_template(template: str, field: str) -> str:
    """A prompt template must hold `{items}`, `{image_type}` and `{extra_context}`."""
    missing = [p for p in PLACEHOLDERS if p not in template]
    if missing:
        raise QwenTemplateInvalid(f"{field} lacks {', '.join(missing)}", field=field, missing=missing)
    return template


def mlx_available() -> bool:
    return importlib.util.find_spec("mlx_vlm") is not None


def load_settings(root: Path) -> QwenSettings:
    """The saved settings (defaults when none or unreadable)."""
    with contextlib.suppress(OSError, ValueError, ValidationError):
        return QwenSettings.model_validate(json.loads((root / SETTINGS_FILE).read_text(encoding="utf-8")))
    return QwenSettings()


def update_settings(root: Path, changes: dict[str, Any]) -> tuple[QwenSettings, QwenSettings]:
    """Apply a partial update (None values are ignored) and save it; returns (before, after)."""
    with _LOCK:
        before = load_settings(root)
        merged = {**before.model_dump(), **{k: v for k, v in changes.items() if v is not None}}
        after = QwenSettings.model_validate(merged)
        check_template(after.bbox_template, "bbox_template")
        check_template(after.point_template, "point_template")
        if after.inference_platform == "mlx_vlm" and not mlx_available():
            raise QwenPlatformUnavailable("mlx_vlm is not installed on this server", platform="mlx_vlm")
        if after.min_pixels and after.max_pixels and after.min_pixels > after.max_pixels:
            raise QwenSettingsInvalid("min_pixels must not exceed max_pixels", field="min_pixels")
        atomic_write_json(root / SETTINGS_FILE, after.model_dump())
        return before, after


def settings_view(settings: QwenSettings) -> dict[str, Any]:
    return {**settings.model_dump(), "mlx_available": mlx_available(), "mlx_models": []}

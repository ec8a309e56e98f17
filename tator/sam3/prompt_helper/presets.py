"""Saved prompt sets (`{class_id: [prompts]}` per dataset), one JSON file each under
`uploads/prompt_helper_presets/<id>.json` (written atomically)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

from tator.errors import (
    InvalidId,
    InvalidPrompts,
    NoPromptsProvided,
    PromptHelperPresetNotFound,
    PromptsMustBeObject,
)
from tator.sam3.datasets import dataset_ref
from tator.sam3.prompt_helper.suggest import dedupe
from tator.storage.files import atomic_write_json
from tator.storage.layout import Layout

PRESETS_DIR = "prompt_helper_presets"
MAX_PROMPTS_JSON_CHARS = 1_000_000


def _root(layout: Layout) -> Path:
    path = layout.guard.child(PRESETS_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse_prompts(text: str) -> dict[str, list[str]]:
    """`{class_id: [prompts]}` from JSON text; empty classes are dropped, at least one prompt is required."""
    if len(text) > MAX_PROMPTS_JSON_CHARS:
        raise InvalidPrompts(f"prompts_json exceeds {MAX_PROMPTS_JSON_CHARS} characters")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidPrompts(f"prompts_json is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise PromptsMustBeObject("prompts_json must be an object {class_id: [prompts]}")
    prompts: dict[str, list[str]] = {}
    for key, items in value.items():
        if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
            raise InvalidPrompts(f"prompts of class {str(key)[:32]} must be a list of strings")
        kept = dedupe(items)
        if kept:
            prompts[str(key)] = kept
    if not prompts:
        raise NoPromptsProvided("prompts_json holds no prompts")
    return prompts


def save_preset(layout: Layout, *, dataset_id: str, label: str, prompts_json: str) -> dict[str, Any]:
    prompts = parse_prompts(prompts_json)
    ref = dataset_ref(layout, dataset_id)
    preset_id = f"phset_{uuid.uuid4().hex[:8]}"
    preset = {"id": preset_id, "label": label.strip()[:200] or preset_id, "dataset_id": ref.id,
              "prompts_by_class": prompts, "created_at": time.time()}  # fmt: skip
    atomic_write_json(_root(layout) / f"{preset_id}.json", preset)
    return preset


def _read(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def list_presets(layout: Layout, dataset_id: str | None = None) -> list[dict[str, Any]]:
    found = [p for p in (_read(f) for f in _root(layout).glob("*.json")) if p is not None]
    if dataset_id:
        found = [p for p in found if p.get("dataset_id") == dataset_id]
    return sorted(found, key=lambda p: float(p.get("created_at") or 0), reverse=True)


def get_preset(layout: Layout, preset_id: str) -> dict[str, Any]:
    try:
        path = layout.guard.child(PRESETS_DIR, f"{preset_id}.json")
    except InvalidId as exc:
        raise PromptHelperPresetNotFound(f"no preset {preset_id[:64]!r}") from exc
    preset = _read(path)
    if preset is None:
        raise PromptHelperPresetNotFound(f"no preset {preset_id!r}", preset_id=preset_id)
    return preset

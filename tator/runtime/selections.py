"""Which model each slot should use ("selected", persisted) as opposed to what is loaded now.

A slot is a role such as `yolo`, `rfdetr`, `sam3`, `classifier` or `qwen`. Selections survive restarts
and `/runtime/unload`; the registry loads the selected model again on next use. Choices that name a
family rather than a model (the preferred detector) are preferences, kept in the same store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tator.errors import DetectorModeInvalid
from tator.runtime.loaders import ModelSpec
from tator.storage.db import SelectionStore


@dataclass(frozen=True)
class Selection:
    slot: str
    spec: ModelSpec
    meta: dict[str, Any] = field(default_factory=dict)


class ModelSelections:
    def __init__(self, store: SelectionStore) -> None:
        self._store = store

    def select(self, slot: str, spec: ModelSpec, **meta: Any) -> Selection:
        value = {"family": spec.family, "source": spec.source, "options": [list(o) for o in spec.options], "meta": meta}
        self._store.set(slot, value, now=time.time())
        return Selection(slot, spec, meta)

    def get(self, slot: str) -> Selection | None:
        value = self._store.get(slot)
        return None if value is None else _decode(slot, value)

    def clear(self, slot: str) -> None:
        self._store.clear(slot)

    def all(self) -> dict[str, Selection]:
        """Every model selection (preferences are not models and are left out)."""
        items = self._store.all().items()
        return {slot: _decode(slot, value) for slot, value in items if not slot.startswith(_PREFERENCE)}

    def preference(self, name: str) -> str | None:
        value = self._store.get(_PREFERENCE + name)
        found = None if value is None else value.get("value")
        return found if isinstance(found, str) else None

    def prefer(self, name: str, value: str) -> None:
        self._store.set(_PREFERENCE + name, {"value": value}, now=time.time())


_PREFERENCE = "preference:"
DETECTOR_MODES = ("yolo", "rfdetr")
DEFAULT_DETECTOR = "rfdetr"


def default_detector(selections: ModelSelections) -> str:
    """The preferred detector family (`rfdetr` unless one was set)."""
    mode = selections.preference("detector_default")
    return mode if mode in DETECTOR_MODES else DEFAULT_DETECTOR


def set_default_detector(selections: ModelSelections, mode: str) -> str:
    """Persist the preferred detector family; 400 `detector_mode_invalid` unless yolo or rfdetr."""
    normalised = mode.strip().lower()
    if normalised not in DETECTOR_MODES:
        raise DetectorModeInvalid("mode must be yolo or rfdetr", mode=mode[:32])
    selections.prefer("detector_default", normalised)
    return normalised


def _decode(slot: str, value: dict[str, Any]) -> Selection:
    options = tuple((str(k), str(v)) for k, v in value.get("options", []))
    return Selection(slot, ModelSpec(value["family"], value["source"], options), dict(value.get("meta", {})))

"""Which model each slot should use ("selected", persisted) as opposed to what is loaded now.

A slot is a role such as `yolo`, `rfdetr`, `sam3`, `classifier` or `qwen`. Selections survive restarts
and `/runtime/unload`; the registry loads the selected model again on next use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

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
        return {slot: _decode(slot, value) for slot, value in self._store.all().items()}


def _decode(slot: str, value: dict[str, Any]) -> Selection:
    options = tuple((str(k), str(v)) for k, v in value.get("options", []))
    return Selection(slot, ModelSpec(value["family"], value["source"], options), dict(value.get("meta", {})))

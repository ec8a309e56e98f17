"""What the model registry knows about models: specs, loaders and loaded entries. Imports no domain."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load: a family (`yolo`, `rfdetr`, `sam3`, `sam3_tracker`, `clip`, `dinov3`,
    `qwen`) and a source (a local path or a Hugging Face id), plus hashable options."""

    family: str
    source: str
    options: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        suffix = "".join(f";{k}={v}" for k, v in self.options)
        return f"{self.family}:{self.source}{suffix}"

    def option(self, name: str, default: str | None = None) -> str | None:
        return dict(self.options).get(name, default)


@dataclass
class LoadedModel:
    """What a loader returns: the model object(s) and how many bytes they hold on their device."""

    value: Any
    nbytes: int
    device: str
    release: Callable[[], None] | None = field(default=None)


class Loader(Protocol):
    """Builds one model family. Heavy libraries are imported inside the call, never at import."""

    def __call__(self, spec: ModelSpec, device: str) -> LoadedModel: ...

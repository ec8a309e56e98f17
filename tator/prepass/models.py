"""Which models a prepass uses (plain, serialisable references) and how it reaches them.

The pipeline only ever calls `models.use(spec)`: in the server that is the model registry, in a dataset
prepass job it is `LocalModels`, which loads each model once through the production loaders and releases
them when the job ends.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.jobs.context import ModelAccess
from tator.runtime.loaders import LoadedModel, ModelSpec

__all__ = ["ClassifierRef", "LocalModels", "ModelAccess", "PrepassModels", "SpecRef"]


class SpecRef(BaseModel):
    """A `ModelSpec` as plain data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str = Field(description="Model family (yolo, rfdetr, sam3, clip, dinov3).")
    source: str = Field(description="Weights file or model directory.")
    options: tuple[tuple[str, str], ...] = Field(default=(), description="Loader options.")

    @classmethod
    def of(cls, spec: ModelSpec) -> SpecRef:
        return cls(family=spec.family, source=spec.source, options=spec.options)

    def spec(self) -> ModelSpec:
        return ModelSpec(self.family, self.source, self.options)


class ClassifierRef(BaseModel):
    """A classifier head file, the backbone that embeds its crops and how crops are cut."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    head_path: str = Field(description="Absolute path of the head (.npz) in the classifiers folder.")
    backbone: SpecRef = Field(description="The encoder the head was trained on.")
    padding: float = Field(default=0.0, ge=0.0, description="Crop padding share.")
    logit_adjustment: bool = Field(default=False, description="Apply the head's logit adjustment.")


class PrepassModels(BaseModel):
    """The models of one prepass; None = that source is not available."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    yolo: SpecRef | None = None
    rfdetr: SpecRef | None = None
    sam3: SpecRef | None = None
    classifier: ClassifierRef | None = None

    def identity(self) -> dict[str, Any]:
        """What decides the models' outputs: each source plus the size and mtime of its files (cache key)."""
        refs = {"yolo": self.yolo, "rfdetr": self.rfdetr, "sam3": self.sam3}
        out: dict[str, Any] = {k: _file_identity(v.source) if v else None for k, v in refs.items()}
        if self.classifier is not None:
            out["classifier"] = {
                "head": _file_identity(self.classifier.head_path),
                "backbone": _file_identity(self.classifier.backbone.source),
                "padding": self.classifier.padding,
                "logit_adjustment": self.classifier.logit_adjustment,
            }
        return out


def _file_identity(source: str) -> dict[str, Any]:
    path = Path(source)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    return {"source": source, "files": [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files[:64]]}


def _production_loaders() -> dict[str, Callable[[ModelSpec, str], LoadedModel]]:
    from tator.clip.loader import load_clip, load_dinov3
    from tator.rfdetr.loader import load as load_rfdetr
    from tator.sam3.loader import load_sam3
    from tator.yolo.loader import load as load_yolo

    return {"yolo": load_yolo, "rfdetr": load_rfdetr, "sam3": load_sam3, "clip": load_clip, "dinov3": load_dinov3}


class LocalModels:
    """`ModelAccess` for a job: each spec loaded once on `device` through the production loaders."""

    def __init__(self, device: str) -> None:
        self._device = device
        self._loaders = _production_loaders()
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def use(self, spec: ModelSpec, *, exclusive: bool = True) -> Iterator[Any]:
        del exclusive  # one job, one caller at a time
        with self._lock:
            if spec.key not in self._loaded:
                self._loaded[spec.key] = self._loaders[spec.family](spec, self._device)
            yield self._loaded[spec.key].value

    def close(self) -> None:
        for loaded in self._loaded.values():
            if loaded.release is not None:
                loaded.release()
        self._loaded.clear()

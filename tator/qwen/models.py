"""Which Qwen models exist (base models + every fine-tuned LoRA adapter) and which one is active.

Fine-tunes live in `qwen_runs/<run_id>/` as `metadata.json` plus `adapter/` (peft: `adapter_config.json`
and `adapter_model.safetensors`; pickled `.bin` adapters are never loaded). The active model is a
persisted selection (slot `qwen`); one whose adapter has disappeared is reset to the base model.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tator.errors import ModelIdRequired, QwenModelMissingCheckpoint, QwenModelNotFound
from tator.qwen.settings import QwenSettings
from tator.runtime.loaders import ModelSpec
from tator.runtime.selections import ModelSelections

log = logging.getLogger(__name__)

SLOT = "qwen"
DEFAULT_ID = "default"
METADATA_FILE = "metadata.json"
ADAPTER_DIR = "adapter"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
RESERVED_DIRS = ("datasets", "splits")


@dataclass(frozen=True)
class QwenModelRef:
    id: str
    label: str
    type: str  # builtin | finetune
    source: str  # the base model: HF id or local dir
    adapter: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float | None = None

    @property
    def family(self) -> str:
        return str(self.metadata.get("model_family") or family_hint(self.source))

    def view(self, active_id: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "type": self.type,
            "metadata": {**self.metadata, "model_family": self.family, "base_model": self.source},
            "path": str(self.adapter) if self.adapter else None,
            "created_at": self.created_at,
            "active": self.id == active_id,
            "available": self.adapter is None or adapter_complete(self.adapter),
        }


@dataclass(frozen=True)
class QwenCatalog:
    base_source: str
    extra_sources: tuple[str, ...]
    runs_root: Path

    def builtins(self) -> list[QwenModelRef]:
        refs = [QwenModelRef(DEFAULT_ID, _base_label(self.base_source), "builtin", self.base_source)]
        for source in self.extra_sources:
            refs.append(QwenModelRef(_slug(source), _base_label(source), "builtin", source))
        return refs

    def finetunes(self) -> list[QwenModelRef]:
        if not self.runs_root.is_dir():
            return []
        refs = []
        for run in sorted(self.runs_root.iterdir()):
            if run.is_dir() and not run.is_symlink() and run.name not in RESERVED_DIRS:
                ref = _finetune(run)
                if ref is not None:
                    refs.append(ref)
        return sorted(refs, key=lambda r: r.created_at or 0.0, reverse=True)

    def all(self) -> list[QwenModelRef]:
        return self.builtins() + self.finetunes()

    def find(self, model_id: str) -> QwenModelRef:
        """The model named `model_id`; a fine-tune without its adapter files is `qwen_model_missing_checkpoint`."""
        if not model_id or not model_id.strip():
            raise ModelIdRequired("model_id is required")
        for ref in self.all():
            if ref.id == model_id.strip():
                if ref.adapter is not None and not adapter_complete(ref.adapter):
                    raise QwenModelMissingCheckpoint(f"model {ref.id} has no adapter weights", model_id=ref.id)
                return ref
        raise QwenModelNotFound(f"no Qwen model {model_id[:120]!r}", model_id=model_id[:120])


def count_finetunes(runs_root: Path) -> int:
    """Published fine-tunes whose adapter files are all present."""
    return sum(1 for ref in QwenCatalog("", (), runs_root).finetunes() if ref.adapter and adapter_complete(ref.adapter))


def adapter_complete(path: Path) -> bool:
    return all((path / name).is_file() for name in ADAPTER_FILES)


def family_hint(source: str) -> str:
    """The model family from a local dir's config.json, else guessed from a hub id's name."""
    config = Path(source) / "config.json"
    with contextlib.suppress(OSError, ValueError):
        if config.is_file():
            return str(json.loads(config.read_text(encoding="utf-8")).get("model_type") or "unknown")
    lowered = source.lower()
    if "qwen2.5" in lowered or "qwen2_5" in lowered:
        return "qwen2_5_vl"
    if "qwen2" in lowered:
        return "qwen2_vl"
    return "qwen3_vl"


def _slug(source: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", source.rstrip("/").split("/")[-1]).strip("-")[:80] or "base"


def _base_label(source: str) -> str:
    family = family_hint(source)
    return f"Base {'Qwen 2.5-VL' if family.startswith('qwen2') else 'Qwen 3-VL'} ({_slug(source)})"


def _finetune(run: Path) -> QwenModelRef | None:
    try:
        meta = json.loads((run / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("base_model"), str):
        return None
    created = meta.get("created_at")
    return QwenModelRef(
        id=run.name,
        label=str(meta.get("label") or run.name),
        type="finetune",
        source=meta["base_model"],
        adapter=run / ADAPTER_DIR,
        metadata=meta,
        created_at=float(created) if isinstance(created, int | float) else None,
    )


def model_spec(ref: QwenModelRef, settings: QwenSettings) -> ModelSpec:
    """The registry spec of a model: its base source, plus its adapter and the remote-code switch."""
    options: list[tuple[str, str]] = []
    if ref.adapter is not None:
        options.append(("adapter", str(ref.adapter)))
    if settings.trust_remote_code:
        options.append(("trust_remote_code", "1"))
    return ModelSpec("qwen", ref.source, tuple(options))


def active_model(catalog: QwenCatalog, selections: ModelSelections) -> QwenModelRef:
    """The selected model, or the base model when none is selected or the selection went stale (reset)."""
    selection = selections.get(SLOT)
    if selection is None:
        return catalog.builtins()[0]
    model_id = str(selection.meta.get("model_id") or DEFAULT_ID)
    try:
        return catalog.find(model_id)
    except (QwenModelNotFound, QwenModelMissingCheckpoint):
        log.warning("qwen.active_reset model_id=%s reason=missing", model_id)
        selections.clear(SLOT)
        return catalog.builtins()[0]


def list_models(catalog: QwenCatalog, selections: ModelSelections) -> dict[str, Any]:
    active = active_model(catalog, selections)
    return {"active": active.id, "models": [ref.view(active.id) for ref in catalog.all()]}


def activate(catalog: QwenCatalog, selections: ModelSelections, model_id: str, settings: QwenSettings) -> QwenModelRef:
    """Persist `model_id` as the active model (loaded lazily on next use)."""
    ref = catalog.find(model_id)
    selections.select(SLOT, model_spec(ref, settings), model_id=ref.id)
    log.info("qwen.activated model_id=%s", ref.id)
    return ref

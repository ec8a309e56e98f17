"""The SAM3 model registry: the base model, the active checkpoint (persisted) and fine-tuned runs.

A checkpoint is a directory written by `save_pretrained` (a `config.json` beside the weights) that lies
inside the data directory; the selection survives restarts like every other family's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tator.errors import Sam3CheckpointNotFound, Sam3CheckpointPathInvalid
from tator.runtime.loaders import ModelSpec
from tator.runtime.selections import ModelSelections
from tator.storage.paths import PathGuard

ACTIVE_SLOT = "sam3"
BASE_ID = "base"
RUN_MODEL_DIR = "model"  # a run's checkpoint: <sam3_runs>/<run id>/model/
RUN_META = "run.json"


def concept_spec(selections: ModelSelections, base_models: Mapping[str, str]) -> ModelSpec:
    """The SAM3 model text and exemplar prompts use: the active checkpoint, else the base model."""
    selected = selections.get(ACTIVE_SLOT)
    return selected.spec if selected is not None else ModelSpec("sam3", base_models["sam3"])


def active_info(selections: ModelSelections, base_models: Mapping[str, str]) -> dict[str, Any]:
    selected = selections.get(ACTIVE_SLOT)
    if selected is None:
        return {"id": BASE_ID, "label": "Base SAM3", "checkpoint": None, "source": "huggingface",
                "enable_segmentation": True, "path": base_models["sam3"]}  # fmt: skip
    meta = selected.meta
    return {"id": meta.get("id", selected.spec.source), "label": meta.get("label"), "checkpoint": selected.spec.source,
            "source": "custom", "enable_segmentation": bool(meta.get("enable_segmentation", True)),
            "path": selected.spec.source}  # fmt: skip


def resolve_checkpoint(guard: PathGuard, raw: str) -> Path:
    """A client's checkpoint path (absolute, or relative to the data directory) -> a checkpoint directory."""
    candidate = Path(raw) if Path(raw).is_absolute() else guard.root / raw
    if "\x00" in raw or not guard.contains(candidate):
        raise Sam3CheckpointPathInvalid("checkpoint_path must lie inside the data directory", path=raw[:200])
    resolved = candidate.resolve()
    if resolved.is_file() and resolved.name == "config.json":
        resolved = resolved.parent
    if not (resolved / "config.json").is_file():
        raise Sam3CheckpointNotFound("no SAM3 checkpoint (config.json) at checkpoint_path", path=raw[:200])
    return resolved


def activate(
    selections: ModelSelections,
    guard: PathGuard,
    base_models: Mapping[str, str],
    *,
    checkpoint_path: str | None,
    label: str | None = None,
    enable_segmentation: bool = True,
) -> dict[str, Any]:
    """Make a checkpoint (None = the base model) the active SAM3 model; the model loads on next use."""
    if not checkpoint_path:
        selections.clear(ACTIVE_SLOT)
        return active_info(selections, base_models)
    path = resolve_checkpoint(guard, checkpoint_path)
    run_id = path.parent.name if path.name == RUN_MODEL_DIR else path.name
    selections.select(ACTIVE_SLOT, ModelSpec("sam3", str(path)), id=run_id, label=label or run_id,
                      enable_segmentation=enable_segmentation)  # fmt: skip
    return active_info(selections, base_models)


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def read_run_meta(run_dir: Path) -> dict[str, Any]:
    try:
        meta = json.loads((run_dir / RUN_META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def run_dirs(runs_root: Path) -> list[Path]:
    """Run directories under the SAM3 runs root that hold a checkpoint, newest first."""
    found = [p for p in runs_root.iterdir() if p.is_dir() and (p / RUN_MODEL_DIR / "config.json").is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def describe_run(run_dir: Path, active_path: str | None) -> dict[str, Any]:
    model = run_dir / RUN_MODEL_DIR
    meta = read_run_meta(run_dir)
    return {
        "id": run_dir.name, "key": run_dir.name, "label": meta.get("label", run_dir.name), "path": str(model),
        "size_bytes": _dir_bytes(run_dir), "promoted": bool(meta.get("promoted")),
        "active": active_path == str(model.resolve()), "variant": "sam3", "run_path": str(run_dir),
        "source": "custom", "checkpoints": [str(model)], "created_at": meta.get("created_at"),
    }  # fmt: skip


def list_models(
    selections: ModelSelections, base_models: Mapping[str, str], runs_root: Path, *, promoted_only: bool = False
) -> list[dict[str, Any]]:
    """The base entry, the active checkpoint when it is no run's, then every run with a checkpoint."""
    active = active_info(selections, base_models)
    active_path = active["checkpoint"]
    entries: list[dict[str, Any]] = [
        {"id": BASE_ID, "key": BASE_ID, "label": "Base SAM3", "path": base_models["sam3"], "size_bytes": None,
         "promoted": False, "active": active_path is None, "variant": "sam3", "run_path": None,
         "source": "huggingface"},
    ]  # fmt: skip
    runs = [describe_run(run, active_path) for run in run_dirs(runs_root)]
    if active_path is not None and not any(r["active"] for r in runs):
        entries.append({"id": active["id"], "key": active["id"], "label": active["label"], "path": active_path,
                        "size_bytes": None, "promoted": False, "active": True, "variant": "sam3", "run_path": None,
                        "source": "custom"})  # fmt: skip
    entries.extend(r for r in runs if r["promoted"] or not promoted_only)
    return entries


def remove_tree(path: Path) -> int:
    """Delete a directory tree; returns the bytes freed."""
    freed = _dir_bytes(path) if path.exists() else 0
    shutil.rmtree(path, ignore_errors=True)
    return freed

"""SAM3 run storage: list fine-tuned runs, delete them (or parts), promote them.

A run lives at `<sam3_runs>/<run id>/` with its checkpoint in `model/`, logs in `logs/`, TensorBoard files in
`tensorboard/`, debug dumps in `dumps/` and `run.json` (label, promoted, created_at).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tator.errors import InvalidScope, RunBusy, Sam3RunActive, Sam3RunNotFound
from tator.sam3.models import RUN_META, RUN_MODEL_DIR, describe_run, read_run_meta, remove_tree, run_dirs
from tator.storage.files import atomic_write_json
from tator.storage.paths import PathGuard

SCOPES: dict[str, tuple[str, ...]] = {
    "checkpoints": (RUN_MODEL_DIR,),
    "logs": ("logs",),
    "tensorboard": ("tensorboard",),
    "dumps": ("dumps",),
}
RESERVED = {"datasets", "splits"}  # other roots under sam3_runs that are not runs


def run_dir(guard: PathGuard, run_id: str) -> Path:
    path = guard.child(run_id)
    if run_id in RESERVED or not path.is_dir():
        raise Sam3RunNotFound(f"no SAM3 run {run_id!r}", run_id=run_id)
    return path


def list_runs(guard: PathGuard, active_path: str | None) -> list[dict[str, Any]]:
    return [describe_run(path, active_path) for path in run_dirs(guard.root) if path.name not in RESERVED]


def delete_run(
    guard: PathGuard, run_id: str, *, scope: str, active_path: str | None, training: bool = False
) -> dict[str, Any]:
    """Delete a run (`all`) or one part of it; the active run's checkpoint, or a run its training job is
    still writing (`training`), is refused (409)."""
    if scope != "all" and scope not in SCOPES:
        raise InvalidScope(f"scope must be all or one of {sorted(SCOPES)}", scope=scope[:32])
    if training:
        raise RunBusy(f"run {run_id} is still being written by its job; cancel the job first", run_id=run_id)
    path = run_dir(guard, run_id)
    if scope in ("all", "checkpoints") and active_path == str((path / RUN_MODEL_DIR).resolve()):
        raise Sam3RunActive(f"run {run_id!r} is the active SAM3 model; activate another first", run_id=run_id)
    targets = [path] if scope == "all" else [path / name for name in SCOPES[scope]]
    freed = sum(remove_tree(target) for target in targets if target.exists())
    return {"deleted": [str(t) for t in targets], "freed_bytes": freed}


def promote_run(guard: PathGuard, run_id: str, active_path: str | None) -> dict[str, Any]:
    """Mark a run as promoted (listed by `promoted_only`)."""
    path = run_dir(guard, run_id)
    if not (path / RUN_MODEL_DIR / "config.json").is_file():
        raise Sam3RunNotFound(f"run {run_id!r} has no checkpoint", run_id=run_id)
    atomic_write_json(path / RUN_META, {**read_run_meta(path), "promoted": True})
    return describe_run(path, active_path)

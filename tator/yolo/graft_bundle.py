"""Head-graft bundles: export a graft run as a zip, and import one (untrusted) as a new YOLO run.

An imported bundle is never trusted: the zip is checked member by member (tator.datasets.zipsafe) and only
known names are extracted, into a hidden staging dir that is removed on any refusal. Its `best.pt` is scanned
for pickle globals and refused unless every one is an allowed model class; it is then loaded with
`torch.load(weights_only=True)`. From that load only plain data is kept: the tensors and the model yaml (checked
against an allowlist of YOLO layers and activations). A fresh model is built from the yaml, re-grafted, loaded
strictly with the tensors and saved by us: the stored checkpoint is our own pickle, never the uploaded one.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from tator.datasets import zipsafe
from tator.datasets.labels import labelmap_text, read_labelmap
from tator.errors import (
    TatorError,
    YoloBundleInvalid,
    YoloBundleUnsafe,
    YoloHeadGraftBundleIncomplete,
    YoloHeadGraftNotFound,
    YoloRunExists,
)
from tator.runtime.active_runs import ActiveRuns
from tator.storage.files import atomic_write_json, atomic_write_text, file_sha256, remove_tree
from tator.yolo.graft_plan import AUDIT_NAME, MODEL_YAML_NAME, append_audit, sanitised_run_id

MiB = 1024 * 1024
REQUIRED = ("best.pt", "labelmap.txt", "run.json", AUDIT_NAME, MODEL_YAML_NAME)
MAX_WEIGHTS_BYTES = 2048 * MiB
MAX_TEXT_BYTES = 16 * MiB
MAX_AUDIT_LINES = 10_000
_YAML_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}\.yaml$")
LIMITS = zipsafe.ZipLimits(
    max_entry_bytes=MAX_WEIGHTS_BYTES, max_total_bytes=MAX_WEIGHTS_BYTES + 64 * MiB, max_image_pixels=1,
    max_entries=256, workers=2,
)  # fmt: skip


def bundle_names(runs: ActiveRuns, run_id: str) -> list[str]:
    """The files of a graft run's bundle; 404 when it is not a graft run, 409 while files are missing."""
    path = runs.store.path(run_id)
    if not (path / "run.json").is_file() or not runs.store.read(run_id).get("head_graft"):
        raise YoloHeadGraftNotFound(f"{run_id} is not a head-graft run", run_id=run_id)
    missing = [name for name in REQUIRED if not (path / name).is_file()]
    if missing:
        raise YoloHeadGraftBundleIncomplete(f"run {run_id} has no {', '.join(missing)} yet", missing=missing)
    yamls = sorted(p.name for p in path.glob("*.yaml") if p.is_file() and not p.is_symlink())
    return [*REQUIRED, *(name for name in yamls if name not in REQUIRED)]


def export_bundle(runs: ActiveRuns, run_id: str) -> Path:
    """A temp zip of the run's bundle files; the caller streams and deletes it."""
    return runs.store.zip_to_tempfile(run_id, bundle_names(runs, run_id))


def _members(zf: zipfile.ZipFile) -> dict[str, zipsafe.Member]:
    try:
        planned = zipsafe.plan(zf, LIMITS)
    except TatorError as exc:
        raise YoloBundleUnsafe(f"bundle zip refused: {exc.message}", reason=exc.code) from exc
    members = {m.path.as_posix(): m for m in planned if len(m.path.parts) == 1}
    kept = {name: m for name, m in members.items() if name in REQUIRED or _YAML_NAME.match(name)}
    for name, member in kept.items():
        if name != "best.pt" and member.info.file_size > MAX_TEXT_BYTES:
            raise YoloBundleUnsafe(f"bundle member {name} is over {MAX_TEXT_BYTES} bytes", member=name)
    missing = [name for name in ("best.pt", "labelmap.txt") if name not in kept]
    if missing:
        raise YoloBundleInvalid(f"bundle has no {', '.join(missing)} at its top level", missing=missing)
    return {name: kept[name] for name in ("best.pt", "labelmap.txt", "run.json", AUDIT_NAME) if name in kept}


def _new_run_id(runs: ActiveRuns, run_name: str | None) -> str:
    run_id = sanitised_run_id(run_name) if run_name else uuid.uuid4().hex
    if runs.store.path(run_id).exists():
        raise YoloRunExists(f"a run named {run_id} already exists", run_id=run_id)
    return run_id


def import_bundle(source: BinaryIO, *, runs: ActiveRuns, run_name: str | None, activate: bool) -> dict[str, Any]:
    """Import a bundle zip as a new run under yolo_runs (see the module docstring for what is checked)."""
    run_id = _new_run_id(runs, run_name)
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise YoloBundleInvalid(f"the bundle is not a zip archive: {exc}") from exc
    staging = runs.store.root / f".import-{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        with zf:
            members = _members(zf)
            try:
                zipsafe.extract(zf, members.values(), staging, LIMITS)
            except TatorError as exc:
                raise YoloBundleUnsafe(f"bundle zip refused: {exc.message}", reason=exc.code) from exc
        record = _store_staged(staging, run_id)
        try:
            os.rename(staging, runs.store.path(run_id))
        except OSError as exc:
            raise YoloRunExists(f"a run named {run_id} already exists", run_id=run_id) from exc
    except BaseException:
        remove_tree(staging)
        raise
    if activate:
        runs.activate(run_id)
    return {**{k: record[k] for k in ("run_id", "run_name", "labelmap", "variant", "head_graft")},
            "activated": activate}  # fmt: skip


def _store_staged(staging: Path, run_id: str) -> dict[str, Any]:
    """Rebuild and re-save the staged checkpoint, then write our own labelmap, yaml, run.json and audit."""
    from tator.yolo.graft_checkpoint import save_checkpoint
    from tator.yolo.graft_job import write_model_yaml

    labelmap = read_labelmap(staging / "labelmap.txt")
    if not labelmap:
        raise YoloBundleInvalid("the bundle's labelmap.txt is empty")
    model, train_args, dtype = rebuild_checkpoint(staging / "best.pt", labelmap)
    save_checkpoint(model, staging / "best.pt", train_args=train_args, dtype=dtype)
    write_model_yaml(staging / MODEL_YAML_NAME, model)
    atomic_write_text(staging / "labelmap.txt", labelmap_text(labelmap))
    source = _read_object(staging / "run.json")
    record = _run_record(run_id, source, labelmap)
    best = staging / "best.pt"
    record["weights"] = {"best.pt": {"bytes": best.stat().st_size, "sha256": file_sha256(best)}}
    atomic_write_json(staging / "run.json", record)
    _rewrite_audit(staging / AUDIT_NAME)
    append_audit(staging, "imported", run_id=run_id, source_run_id=record["head_graft"].get("imported_from"))
    return record


def rebuild_checkpoint(path: Path, labelmap: list[str]) -> tuple[Any, dict[str, Any], Any]:
    """(model, train args, dtype) rebuilt from an untrusted checkpoint's tensors and checked yaml. Of its
    training arguments only a bounded `imgsz` is kept (ultralytics predicts at it)."""
    import torch

    from tator.yolo.graft_checkpoint import detection_model, load_restricted, plain_train_args
    from tator.yolo.graft_model import check_model_yaml, model_tensors, rebuild

    ckpt = load_restricted(path, YoloBundleUnsafe)
    loaded = detection_model(ckpt, YoloBundleInvalid)
    yaml = check_model_yaml(getattr(loaded, "yaml", None), YoloBundleUnsafe)
    tensors = model_tensors(loaded)
    floats = {t.dtype for t in tensors.values() if t.is_floating_point()}
    dtype = torch.float16 if floats == {torch.float16} else torch.float32
    model = rebuild(yaml, {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}, labelmap,
                    YoloBundleInvalid)  # fmt: skip
    imgsz = plain_train_args(ckpt).get("imgsz")
    args = {"task": "detect", "imgsz": imgsz if isinstance(imgsz, int) and 32 <= imgsz <= 4096 else 640}
    return model, args, dtype


def _read_object(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _text(value: Any, limit: int = 256) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _names(value: Any) -> list[str]:
    return [v[:256] for v in value[:10_000] if isinstance(v, str)] if isinstance(value, list) else []


def _run_record(run_id: str, source: dict[str, Any], labelmap: list[str]) -> dict[str, Any]:
    """Our run.json for the import: only typed, bounded fields are taken from the bundle's own run.json."""
    graft: dict[str, Any] = source["head_graft"] if isinstance(source.get("head_graft"), dict) else {}
    now = time.time()
    return {
        "run_id": run_id,
        "run_name": _text(source.get("run_name")) or run_id,
        "status": "succeeded",
        "task": "detect",
        "variant": _text(source.get("variant")),
        "labelmap": labelmap,
        "dataset_id": _text(source.get("dataset_id")),
        "dataset_label": _text(source.get("dataset_label")),
        "head_graft": {
            "base_run_id": _text(graft.get("base_run_id")),
            "base_labelmap": _names(graft.get("base_labelmap")),
            "new_classes": _names(graft.get("new_classes")),
            "overlap_dropped": _names(graft.get("overlap_dropped")),
            "imported_from": _text(source.get("run_id")),
            "imported_at": now,
        },
        "created_at": now,
        "updated_at": now,
    }


def _rewrite_audit(path: Path) -> None:
    """Keep the bundle's audit lines that are JSON objects, re-serialised by us (bounded)."""
    lines: list[str] = []
    if path.is_file():
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines()[:MAX_AUDIT_LINES]:
            try:
                value = json.loads(raw)
            except ValueError:
                continue
            line = json.dumps(value) if isinstance(value, dict) else ""
            if line and len(line) <= 4096:
                lines.append(line)
    atomic_write_text(path, "".join(f"{line}\n" for line in lines))

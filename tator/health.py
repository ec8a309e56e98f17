"""The system status reports: storage probe, GPU inventory and the aggregated health summary."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from tator.errors import ModelFamilyUnknown
from tator.qwen.models import count_finetunes
from tator.qwen.service import status as qwen_status
from tator.rfdetr.service import variants as rfdetr_variants
from tator.runtime.gpu_report import gpu_report
from tator.runtime.loaders import ModelSpec
from tator.runtime.registry import ModelDescription
from tator.runtime.weights import downloads_allowed, weights_status
from tator.state import AppState
from tator.yolo.service import variants as yolo_variants

_CLASSIFIER_SUFFIXES = (".npz", ".safetensors", ".json", ".pkl", ".joblib", ".skops")


def storage_report(state: AppState) -> dict[str, Any]:
    roots = state.layout.check_roots()
    return {"ok": all(r.ok for r in roots), "roots": [asdict(r) for r in roots]}


def _count_dirs(path: Path, *, exclude: tuple[str, ...] = ()) -> int:
    if not path.is_dir():
        return 0
    return sum(1 for p in path.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in exclude)


def _count_files(path: Path, suffixes: tuple[str, ...]) -> int:
    if not path.is_dir():
        return 0
    return sum(1 for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes and ".meta." not in p.name)


def health_summary(state: AppState) -> dict[str, Any]:
    """Aggregate of gpu, storage, datasets, models and jobs. Partial failures are listed in `errors`
    and turn `ok` false; this never raises and never writes anything but the storage probe files."""
    errors: list[str] = []
    summary: dict[str, Any] = {"ok": True}
    summary["gpu"] = gpu_report()
    summary["storage"] = storage_report(state)
    if not summary["storage"]["ok"]:
        errors.append("storage_failed:" + ",".join(r["name"] for r in summary["storage"]["roots"] if not r["ok"]))
    uploads = state.settings.uploads_dir
    try:
        summary["datasets"] = {"count": _count_dirs(uploads / "datasets")}
        summary["models"] = {
            "zoo": state.settings.model_zoo,
            "loaded": len(state.registry.describe()),
            "yolo_variants": len(yolo_variants(None)),
            "rfdetr_variants": len(rfdetr_variants(None)),
            "yolo_runs": _count_dirs(uploads / "yolo_runs", exclude=("datasets",)),
            "rfdetr_runs": _count_dirs(uploads / "rfdetr_runs", exclude=("datasets",)),
            "sam3_runs": _count_dirs(uploads / "sam3_runs", exclude=("datasets", "splits")),
            "qwen_models": count_finetunes(state.layout.root("qwen_runs")),
            "clip_classifiers": _count_files(uploads / "classifiers", _CLASSIFIER_SUFFIXES),
        }
    except OSError as exc:
        errors.append(f"listing_failed:{type(exc).__name__}: {exc}")
    try:
        ready = state.settings.qwen_base_model or state.base_models_ready()
        summary.setdefault("models", {})["qwen"] = qwen_status(state.qwen()) if ready else {"status": "zoo_building"}
    except Exception as exc:  # a broken Qwen setup is reported here, never a 500
        errors.append(f"qwen_failed:{type(exc).__name__}: {exc}")
    try:
        summary["jobs"] = {"active": state.jobs.active_count(), "by_status": state.jobs.counts()}
    except Exception as exc:  # a locked or corrupt database must show up here, not as a 500
        errors.append(f"jobs_failed:{type(exc).__name__}: {exc}")
    summary["errors"] = errors
    summary["ok"] = not errors
    return summary


def base_model_report(state: AppState) -> dict[str, dict[str, Any]]:
    """Per family: the base model's source, whether its weights are on this machine (`local`, `path`),
    where they come from (`origin`) and whether the server may download them now."""
    allowed = downloads_allowed()
    return {
        family: weights_status(family, source).as_dict() | {"downloads_allowed": allowed}
        for family, source in state.base_models().items()
    }


def preload_base(state: AppState, family: str) -> ModelDescription:
    """Load the base model of `family` into the registry and describe it."""
    sources = state.base_models()
    if family not in sources or family not in state.registry.families:
        raise ModelFamilyUnknown(f"no base model for family {family!r}", family=family, known=sorted(sources))
    spec = ModelSpec(family, sources[family])
    state.registry.get(spec)
    return next(d for d in state.registry.describe() if d.key == spec.key)

"""The offline tiny model zoo: random models of every family, saved in the same formats as real weights.

`build_tiny_zoo(dest)` writes them; `ensure_tiny_zoo(dest)` builds once per directory (file lock + staging dir
+ rename) and afterwards only reads `dest/manifest.json`. Call `tator.offline.configure_model_libraries` first.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from tator.zoo.synthetic import DEFAULT_CLASSES
from tator.zoo.tiny_embed import build_tiny_clip, build_tiny_dinov3
from tator.zoo.tiny_qwen import build_tiny_qwen2_5_vl, build_tiny_qwen3_vl
from tator.zoo.tiny_rfdetr import build_tiny_rfdetr
from tator.zoo.tiny_sam import build_tiny_sam
from tator.zoo.tiny_sam3 import build_tiny_sam3, build_tiny_sam3_tracker
from tator.zoo.tiny_yolo import build_tiny_yolo

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
# Bump when a tiny model's recipe or layout changes, so existing zoos are rebuilt.
FORMAT_VERSION = 2
TINY_FAMILIES: tuple[str, ...] = (
    "yolo",
    "yolo_yaml",
    "rfdetr",
    "sam3",
    "sam3_tracker",
    "sam1",
    "clip",
    "dinov3",
    "qwen3_vl",
    "qwen2_5_vl",
)
_LIBRARIES: tuple[str, ...] = ("torch", "transformers", "ultralytics", "rfdetr")


def _library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def build_tiny_zoo(dest: Path, *, seed: int = 0, classes: Sequence[str] = DEFAULT_CLASSES) -> dict[str, Path]:
    """Build every tiny model under `dest` (created; existing files are overwritten) and write the manifest.

    Returns family -> path: files for `yolo` (.pt), `yolo_yaml` and `rfdetr` (.pth), directories otherwise.
    Deterministic for a given seed; the global torch RNG state is left untouched.
    """
    dest.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    yolo_pt, yolo_yaml = build_tiny_yolo(dest / "yolo", classes, seed=seed)
    paths: dict[str, Path] = {"yolo": yolo_pt, "yolo_yaml": yolo_yaml}
    builders: dict[str, Callable[[], Path]] = {
        "rfdetr": lambda: build_tiny_rfdetr(dest / "rfdetr", classes, seed=seed),
        "sam3": lambda: build_tiny_sam3(dest / "sam3", seed=seed),
        "sam3_tracker": lambda: build_tiny_sam3_tracker(dest / "sam3_tracker", seed=seed),
        "sam1": lambda: build_tiny_sam(dest / "sam1", seed=seed),
        "clip": lambda: build_tiny_clip(dest / "clip", seed=seed),
        "dinov3": lambda: build_tiny_dinov3(dest / "dinov3", seed=seed),
        "qwen3_vl": lambda: build_tiny_qwen3_vl(dest / "qwen3_vl", seed=seed),
        "qwen2_5_vl": lambda: build_tiny_qwen2_5_vl(dest / "qwen2_5_vl", seed=seed),
    }
    for family, build in builders.items():
        paths[family] = build()
    manifest = {
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "classes": list(classes),
        "libraries": _library_versions(),
        "paths": {family: path.relative_to(dest).as_posix() for family, path in paths.items()},
    }
    (dest / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    log.info("zoo.built dest=%s families=%d secs=%.1f", dest, len(paths), time.perf_counter() - started)
    return paths


def read_manifest(dest: Path, *, seed: int | None = None) -> dict[str, Path] | None:
    """family -> path of a complete zoo at `dest` (built with `seed`, when given), or None when it is missing,
    stale (other format version or library versions) or incomplete."""
    try:
        manifest = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        return None
    if manifest.get("libraries") != _library_versions() or (seed is not None and manifest.get("seed") != seed):
        return None
    relative = manifest.get("paths")
    if not isinstance(relative, dict) or set(relative) != set(TINY_FAMILIES):
        return None
    paths = {str(family): dest / str(rel) for family, rel in relative.items()}
    if not all(path.exists() for path in paths.values()):
        return None
    return paths


@contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def ensure_tiny_zoo(dest: Path, *, seed: int = 0) -> dict[str, Path]:
    """Return the tiny zoo at `dest`, building it first unless a current manifest is already there.

    Safe across threads and processes: builders serialise on `<dest>.lock` (fcntl.flock) beside `dest`, build
    into a staging directory and rename it into place, so readers never see a half-written zoo. A stale zoo
    is replaced; a non-empty `dest` without a manifest is refused rather than deleted.
    """
    dest = dest.absolute()
    found = read_manifest(dest, seed=seed)
    if found is not None:
        return found
    with _exclusive_lock(dest.with_name(dest.name + ".lock")):
        found = read_manifest(dest, seed=seed)
        if found is not None:
            return found
        if dest.exists() and any(dest.iterdir()) and not (dest / MANIFEST_NAME).exists():
            raise FileExistsError(f"{dest} is not empty and holds no {MANIFEST_NAME}; refusing to replace it")
        for leftover in dest.parent.glob(f".{dest.name}.staging-*"):  # from a builder that was killed
            shutil.rmtree(leftover, ignore_errors=True)
        staging = dest.with_name(f".{dest.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        try:
            build_tiny_zoo(staging, seed=seed)
            if dest.exists():
                stale = dest.with_name(f".{dest.name}.stale-{uuid.uuid4().hex[:8]}")
                os.replace(dest, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    found = read_manifest(dest, seed=seed)
    if found is None:
        raise RuntimeError(f"tiny zoo at {dest} has no valid manifest after building it")
    return found


# Family -> the tiny-zoo entry that stands in for its hub base model (`tator.runtime.catalog.HUB_BASE_MODELS`).
TINY_FOR_FAMILY: dict[str, str] = {
    "yolo": "yolo",
    "rfdetr": "rfdetr",
    "sam3": "sam3",
    "sam3_tracker": "sam3_tracker",
    "sam1": "sam1",
    "clip": "clip",
    "dinov3": "dinov3",
    "qwen": "qwen3_vl",
}


def tiny_base_models(zoo_dir: Path) -> dict[str, str]:
    """family -> `ModelSpec.source` of its tiny stand-in, building the zoo under `zoo_dir` on first use."""
    zoo = ensure_tiny_zoo(zoo_dir)
    return {family: str(zoo[entry]) for family, entry in TINY_FOR_FAMILY.items()}

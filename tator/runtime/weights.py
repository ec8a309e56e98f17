"""Where a model's weights come from and whether they are on this machine: for `GET /models/base` and for
the one error a client gets when a model cannot be had (`model_weights_unavailable`).

Nothing here imports a model library. Hugging Face ids are looked up in the local hub cache through
`huggingface_hub` (a small package, no torch); ultralytics and RF-DETR names are files the libraries
download into the working directory on first use.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tator.errors import ModelWeightsUnavailable

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
_OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "YOLO_OFFLINE")
DOWNLOAD_ORIGINS = frozenset({"huggingface_hub", "huggingface_cache", "ultralytics_release", "rfdetr_release"})


@dataclass(frozen=True)
class WeightsStatus:
    """`local`: usable without the network now. `origin`: local_path | huggingface_cache | huggingface_hub |
    ultralytics_release | rfdetr_release. `path`: where they are on disk when local."""

    family: str
    source: str
    local: bool
    origin: str
    path: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def downloads_allowed() -> bool:
    """False when the process runs with the model libraries' offline switches (TATOR_OFFLINE=1, tests, CI)."""
    return not any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in _OFFLINE_SWITCHES)


def _hf_cached(repo_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - a dependency of transformers, always installed with it
        return None
    for name in ("config.json", "model_index.json", "preprocessor_config.json"):
        found = try_to_load_from_cache(repo_id, name)
        if isinstance(found, str):
            return str(Path(found).parent)
    return None


def _release_file(family: str, source: str) -> Path | None:
    """The file name a library downloads a named release to (in the working directory)."""
    name = source.strip()
    if family == "yolo" and name.endswith(".pt") and "/" not in name:
        return Path(name)
    if family == "rfdetr" and name.lower().startswith("rfdetr-"):
        return Path("rf-detr-" + name.lower().removeprefix("rfdetr-") + ".pth")
    return None


def weights_status(family: str, source: str) -> WeightsStatus:
    """Whether `source` (a path, a Hugging Face id or a library release name) is on this machine."""
    path = Path(source).expanduser()
    if path.exists():
        return WeightsStatus(family, source, True, "local_path", str(path.resolve()))
    release = _release_file(family, source)
    if release is not None:
        origin = "ultralytics_release" if family == "yolo" else "rfdetr_release"
        present = release.is_file()
        return WeightsStatus(family, source, present, origin, str(release.resolve()) if present else None)
    if _HUB_ID.fullmatch(source.strip()):
        cached = _hf_cached(source.strip())
        if cached is not None:
            return WeightsStatus(family, source, True, "huggingface_cache", cached)
        return WeightsStatus(family, source, False, "huggingface_hub", None)
    return WeightsStatus(family, source, False, "local_path", None)


def how_to_provide(status: WeightsStatus) -> str:
    """One sentence: the ways to make these weights available."""
    ways = ["put the weights on this machine and name their local path"]
    if status.origin in ("huggingface_hub", "ultralytics_release", "rfdetr_release"):
        ways.append("let the server download them on first use (TATOR_OFFLINE=0, network access needed)")
    ways.append("or run the demo with tiny random models (TATOR_MODEL_ZOO=tiny)")
    return ", ".join(ways)


def weights_unavailable(family: str, source: str, cause: BaseException | None = None) -> ModelWeightsUnavailable:
    """The error for a model whose weights are neither on disk nor downloadable now."""
    status = weights_status(family, source)
    reason = "downloads are off" if not downloads_allowed() else "the download failed"
    if cause is not None and downloads_allowed():
        reason += f" ({type(cause).__name__}: {str(cause)[:200]})"
    return ModelWeightsUnavailable(
        f"{family} weights {source!r} are not on this machine and {reason}: {how_to_provide(status)}",
        family=family,
        model=source,
        origin=status.origin,
        downloads_allowed=downloads_allowed(),
        how_to_provide=how_to_provide(status),
    )

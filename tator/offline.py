"""The switches that keep the model libraries off the network. Set before any of them is imported."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

OFFLINE_SWITCHES: dict[str, str] = {
    "YOLO_OFFLINE": "1",  # ultralytics: no DNS probe at import, no hub, no analytics
    "YOLO_AUTOINSTALL": "false",  # ultralytics: never pip-install a missing requirement
    "HF_HUB_OFFLINE": "1",  # huggingface_hub / transformers: fail fast instead of HEAD requests
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "WANDB_MODE": "disabled",
}


def configure_model_libraries(config_dir: Path, *, offline: bool) -> None:
    """Point ultralytics at a writable config dir holding a local font, and set the offline switches.

    Values already present in the environment win, so an operator can still override any of them.
    """
    ultralytics_dir = config_dir / "Ultralytics"
    ultralytics_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    _install_font(Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics")
    if offline:
        for name, value in OFFLINE_SWITCHES.items():
            os.environ.setdefault(name, value)


def _install_font(ultralytics_dir: Path) -> None:
    # ultralytics' check_font() fetches Arial.ttf from GitHub on every train/val unless a file with that
    # name is already in its config dir; any TTF will do, so use the one matplotlib ships.
    target = ultralytics_dir / "Arial.ttf"
    if target.exists():
        return
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return
    source = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    if source.exists():
        ultralytics_dir.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)

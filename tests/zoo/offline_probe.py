"""Run as `python -m tests.zoo.offline_probe ZOO_DIR REPORT.json` in a fresh interpreter: blocks and records every
network attempt while the model libraries are imported, a tiny zoo is built and each model is loaded through
its production loader, then writes the attempts and loaded families to REPORT.json."""

from __future__ import annotations

import json
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

ATTEMPTS: list[str] = []


def _blocked(kind: str) -> Any:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        target = args[1] if kind == "connect" else args[:2]
        ATTEMPTS.append(f"{kind} {target!r} {sorted(kwargs)}"[:200])
        raise OSError(f"network blocked by offline_probe ({kind})")

    return refuse


def _install_guard() -> None:
    socket.getaddrinfo = _blocked("getaddrinfo")
    socket.socket.connect = _blocked("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _blocked("connect")  # type: ignore[method-assign]


def main(zoo_dir: Path, report: Path) -> None:
    _install_guard()
    from tator.offline import configure_model_libraries

    configure_model_libraries(Path(tempfile.mkdtemp(prefix="tator-probe-config-")), offline=True)
    import numpy as np
    from PIL import Image

    from tator.clip.loader import load_clip, load_dinov3
    from tator.qwen.loader import load as load_qwen
    from tator.rfdetr.loader import load as load_rfdetr
    from tator.runtime.loaders import ModelSpec
    from tator.sam3.loader import load_sam1, load_sam3, load_sam3_tracker
    from tator.yolo.loader import load as load_yolo
    from tator.zoo.tiny import ensure_tiny_zoo

    zoo = ensure_tiny_zoo(zoo_dir)
    loaders = {
        "yolo": load_yolo,
        "rfdetr": load_rfdetr,
        "sam3": load_sam3,
        "sam3_tracker": load_sam3_tracker,
        "sam1": load_sam1,
        "clip": load_clip,
        "dinov3": load_dinov3,
        "qwen3_vl": load_qwen,
        "qwen2_5_vl": load_qwen,
    }
    loaded = {name: load(ModelSpec(name, str(zoo[name])), "cpu").value for name, load in loaders.items()}
    image = Image.fromarray(np.full((96, 96, 3), 128, dtype=np.uint8))
    loaded["yolo"].model.predict(image, imgsz=128, device="cpu", verbose=False)
    loaded["rfdetr"].model.predict(image, threshold=0.5)
    report.write_text(json.dumps({"attempts": ATTEMPTS, "loaded": sorted(loaded)}), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))

"""Server overhead of `/yolo/predict_full`: over HTTP with an image token, against the bare ultralytics
call in-process on the same image (the baseline, in the same run).

    python tools/bench/predict_overhead.py [--requests 30] [--size 1280x960]

The model is a YOLOv8n architecture (3.2M parameters, random weights) at imgsz 640: a realistic
per-image cost. The server runs as a real `python -m tator` subprocess on a free loopback port.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tator.offline import configure_model_libraries  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_model(dest: Path) -> Path:
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")
    model.save(str(dest))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--size", default="1280x960")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    scratch = Path(tempfile.mkdtemp(prefix="tator-bench-predict-"))
    configure_model_libraries(scratch / "config", offline=True)
    data_dir = scratch / "data"
    run_dir = data_dir / "uploads" / "yolo_runs" / "bench"
    run_dir.mkdir(parents=True)
    weights = build_model(run_dir / "best.pt")
    (run_dir / "run.json").write_text(json.dumps({"run_id": "bench", "status": "succeeded", "created_at": time.time()}))
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    image_b64 = base64.b64encode(buffer.getvalue()).decode()

    port = free_port()
    env = {
        **os.environ,
        "TATOR_DATA_DIR": str(data_dir),
        "TATOR_PORT": str(port),
        "TATOR_DEVICE": "cpu",
        "TATOR_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "tator"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=120) as http:
            while True:
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            http.post("/yolo/active", json={"run_id": "bench"}).raise_for_status()
            token = (
                http.post("/yolo/predict_full", json={"image_base64": image_b64})
                .raise_for_status()
                .json()["image_token"]
            )
            for _ in range(3):
                http.post("/yolo/predict_full", json={"image_token": token}).raise_for_status()
            http_times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                http.post("/yolo/predict_full", json={"image_token": token}).raise_for_status()
                http_times.append(time.perf_counter() - started)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(30)

    from ultralytics import YOLO

    model = YOLO(str(weights))
    bgr = np.ascontiguousarray(pixels[:, :, ::-1])
    for _ in range(3):
        model.predict(bgr, imgsz=640, conf=0.25, iou=0.45, max_det=300, device="cpu", verbose=False)
    bare_times = []
    for _ in range(args.requests):
        started = time.perf_counter()
        model.predict(bgr, imgsz=640, conf=0.25, iou=0.45, max_det=300, device="cpu", verbose=False)
        bare_times.append(time.perf_counter() - started)

    http_s, bare_s = statistics.median(http_times), statistics.median(bare_times)
    print(f"image {width}x{height}, YOLOv8n (random weights) at imgsz 640, CPU, median of {args.requests}")
    print("| path | median ms |")
    print("|---|---|")
    print(f"| POST /yolo/predict_full with image_token (HTTP, real server) | {http_s * 1000:.1f} |")
    print(f"| bare ultralytics predict in-process (baseline) | {bare_s * 1000:.1f} |")
    print(f"ratio: {http_s / bare_s:.3f}x")


if __name__ == "__main__":
    main()

"""Load: 16 concurrent clients against a real server on the tiny zoo, against the same requests one at a time.

    python tools/bench/load.py [--requests 160] [--clients 16] [--zoo DIR]

The server is `python -m tator` (TATOR_MODEL_ZOO=tiny, CPU) on a free loopback port. The request mix, in equal
parts and in a fixed order: YOLO `/yolo/predict_full` (base model), `/sam_point` on an image preloaded once (its
image token), `/sam3/text_prompt` on that token, `/predict_base64` through a CLIP classifier head (random weights,
uploaded and activated first) and `/qwen/infer` (8 new tokens). After a warm-up (each kind once, then one
concurrent burst of 2 x clients requests), the
baseline sends all requests one at a time on one client; then `--clients` clients send the same requests at once.
Reported: errors (any non-2xx or transport error), p50/p99 latency per kind and overall, throughput of the
concurrent run against the baseline (target >= 0.9x), and the server's RSS sampled every 0.1 s from the end of
the warm-up (stable within 5%).

The mix touches six models (YOLO, the SAM3 tracker, SAM3, CLIP, Qwen, plus the run's own); the server keeps
them all resident with its default bounds (`--max-loaded N` sets TATOR_MAX_LOADED_MODELS: with 4, the old
default, the registry evicts on every kind change and every request of the one-at-a-time baseline reloads its
model, ~2.5 s each instead of tens of ms).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tools"))

from run_validation import free_port, wait_ready  # noqa: E402

Request = tuple[str, str, dict[str, Any]]  # kind, path, json body


def _image_b64(width: int = 640, height: int = 480) -> str:
    pixels = np.full((height, width, 3), 30, dtype=np.uint8)
    pixels[120:300, 200:420] = (210, 60, 50)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _activate_clip_head(http: httpx.Client) -> None:
    from tator.clip.head import build_head, head_bytes

    dim = 32  # the tiny zoo's CLIP embedding width
    classes = ("box", "background")
    weight = np.random.default_rng(0).normal(size=(len(classes), dim))
    content = head_bytes(build_head(classes, [(weight, np.zeros(len(classes)))], activation="none"))
    saved = http.post("/fs/upload_classifier", files={"file": ("load_bench_head.npz", content)}).raise_for_status()
    rel = Path(saved.json()["path"]).name
    active = http.post("/clip/active_model", json={"classifier_path": rel, "clip_model": "ViT-B/32"})
    assert active.is_success, active.text


def _train_yolo_run(http: httpx.Client, scratch: Path) -> None:
    """A one-epoch YOLO run on a small synthetic dataset, activated when it completes (predict needs a run)."""
    import zipfile

    from tator.zoo.synthetic import make_detection_dataset

    ds = make_detection_dataset(scratch / "shapes" / "shapes", n_train=4, n_val=2, image_size=64)
    archive = scratch / "shapes.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(ds.root.parent.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(ds.root.parent).as_posix())
    with open(archive, "rb") as handle:
        uploaded = http.post("/datasets/upload", files={"file": (archive.name, handle, "application/zip")})
    body = {"dataset_id": uploaded.raise_for_status().json()["id"], "accept_tos": True, "from_scratch": True,
            "epochs": 1, "img_size": 32, "batch": 4}  # fmt: skip
    job_id = http.post("/yolo/train/jobs", json=body).raise_for_status().json()["job_id"]
    while (job := http.get(f"/yolo/train/jobs/{job_id}").json())["status"] not in ("succeeded", "failed", "cancelled"):
        time.sleep(0.5)
    assert job["status"] == "succeeded", job
    if not http.get("/yolo/active").json():
        http.post("/yolo/active", json={"run_id": job_id}).raise_for_status()


def prepare(http: httpx.Client, scratch: Path) -> list[Request]:
    """Train and activate a YOLO run, preload the image for SAM, activate a head; the five request kinds."""
    _train_yolo_run(http, scratch)
    image = _image_b64()
    token = http.post("/sam_point", json={"image_base64": image, "point_x": 300, "point_y": 200}).raise_for_status()
    image_token = token.json()["image_token"]
    _activate_clip_head(http)
    return [
        ("predict_full", "/yolo/predict_full", {"image_base64": image, "conf": 0.0}),
        ("sam_point", "/sam_point", {"image_token": image_token, "point_x": 310, "point_y": 210}),
        ("sam3_text", "/sam3/text_prompt", {"image_token": image_token, "text_prompt": "red box", "threshold": 0}),
        ("predict_base64", "/predict_base64",
         {"image_base64": image, "bbox_xyxy": [200, 120, 420, 300], "background_guard": False}),
        ("qwen_infer", "/qwen/infer", {"image_base64": image, "prompt": "What is this?", "max_new_tokens": 8}),
    ]  # fmt: skip


def send(http: httpx.Client, request: Request) -> tuple[str, float, str | None]:
    kind, path, body = request
    started = time.perf_counter()
    try:
        response = http.post(path, json=body)
        error = None if response.is_success else f"{response.status_code} {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    return kind, time.perf_counter() - started, error


def run_sequential(base_url: str, requests: list[Request]) -> tuple[float, list[tuple[str, float, str | None]]]:
    with httpx.Client(base_url=base_url, timeout=300) as http:
        started = time.perf_counter()
        results = [send(http, r) for r in requests]
    return time.perf_counter() - started, results


def run_concurrent(
    base_url: str, requests: list[Request], clients: int
) -> tuple[float, list[tuple[str, float, str | None]]]:
    work: queue.Queue[Request] = queue.Queue()
    for request in requests:
        work.put(request)
    results: list[tuple[str, float, str | None]] = []
    lock, gate = threading.Lock(), threading.Barrier(clients + 1)

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=300) as http:
            gate.wait()
            while True:
                try:
                    request = work.get_nowait()
                except queue.Empty:
                    return
                outcome = send(http, request)
                with lock:
                    results.append(outcome)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    gate.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, results


class RssSampler:
    """The server's resident memory every `interval` seconds, on a thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.process, self.interval = psutil.Process(pid), interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def report(label: str, seconds: float, results: list[tuple[str, float, str | None]]) -> dict[str, Any]:
    errors = [f"{kind}: {error}" for kind, _, error in results if error]
    kinds = sorted({kind for kind, _, _ in results})
    per_kind = {k: [s for kind, s, _ in results if kind == k] for k in kinds}
    print(f"\n{label}: {len(results)} requests in {seconds:.1f} s = {len(results) / seconds:.2f} req/s, "
          f"{len(errors)} errors")  # fmt: skip
    for error in errors[:5]:
        print(f"  error: {error}")
    every = [s for _, s, _ in results]
    print(f"  {'all':<15} p50 {_pct(every, 0.5):8.1f} ms  p99 {_pct(every, 0.99):8.1f} ms")
    for kind, values in per_kind.items():
        print(f"  {kind:<15} p50 {_pct(values, 0.5):8.1f} ms  p99 {_pct(values, 0.99):8.1f} ms")
    return {"seconds": seconds, "errors": len(errors), "rate": len(results) / seconds}


def _zoo_data_dir(zoo: Path | None) -> Path:
    data_dir = Path(tempfile.mkdtemp(prefix="tator-load-"))
    if zoo is not None:
        (data_dir / "uploads").mkdir(parents=True)
        os.symlink(zoo.absolute(), data_dir / "uploads" / "zoo")
    return data_dir


def with_server(zoo: Path | None, body: Callable[[str, int], None], max_loaded: int = 0) -> None:
    data_dir = _zoo_data_dir(zoo)
    port = free_port()
    env = {**os.environ, "TATOR_DATA_DIR": str(data_dir), "TATOR_MODEL_ZOO": "tiny", "TATOR_OFFLINE": "1",
           "TATOR_PORT": str(port), "TATOR_DEVICE": "cpu", "TATOR_LOG_LEVEL": "WARNING",
           "TATOR_MAX_LOADED_MODELS": str(max_loaded)}  # fmt: skip
    with open(data_dir / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "tator"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        try:
            base_url = f"http://127.0.0.1:{port}"
            wait_ready(base_url, server, timeout=300)
            body(base_url, server.pid)
        finally:
            server.terminate()
            server.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=160)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--zoo", type=Path, default=None, help="an existing tiny zoo to link in (else built)")
    parser.add_argument("--max-loaded", type=int, default=0, help="TATOR_MAX_LOADED_MODELS of the server (0: none)")
    args = parser.parse_args()

    def bench(base_url: str, pid: int) -> None:
        with httpx.Client(base_url=base_url, timeout=600) as http:
            while not http.get("/models/base").is_success:
                time.sleep(1)
            kinds = prepare(http, Path(tempfile.mkdtemp(prefix="tator-load-src-")))
            for request in kinds:  # warm-up: every model loaded, every path taken once
                kind, seconds, error = send(http, request)
                assert error is None, f"warm-up {kind}: {error}"
        requests = [kinds[i % len(kinds)] for i in range(args.requests)]
        # Concurrent warm-up: the threadpool, per-thread malloc arenas and 16 requests' working sets exist once
        # the first concurrent burst has run; the RSS figure is about what happens after that.
        warm_s, warm = run_concurrent(base_url, requests[: 2 * args.clients], args.clients)
        assert not [e for _, _, e in warm if e], [e for _, _, e in warm if e][:3]
        print(f"load.py: {args.requests} requests ({len(kinds)} kinds), {args.clients} clients, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        with RssSampler(pid) as rss:
            seq_s, seq = run_sequential(base_url, requests)
            conc_s, conc = run_concurrent(base_url, requests, args.clients)
        one = report("one at a time (baseline)", seq_s, seq)
        many = report(f"{args.clients} concurrent clients", conc_s, conc)
        first, low, high, last = rss.samples[0], min(rss.samples), max(rss.samples), rss.samples[-1]
        print(f"\nthroughput concurrent / one at a time: {many['rate'] / one['rate']:.2f}x (target >= 0.9x)")
        print(f"RSS after warm-up {first / 2**20:.0f} MiB; over the run {low / 2**20:.0f}..{high / 2**20:.0f} MiB "
              f"({(high - first) / first:+.1%} max drift, {(last - first) / first:+.1%} at the end, "
              f"{len(rss.samples)} samples; target within 5%); "
              f"load average after {os.getloadavg()[0]:.1f}")  # fmt: skip

    with_server(args.zoo, bench, args.max_loaded)


if __name__ == "__main__":
    main()

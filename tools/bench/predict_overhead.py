"""Server overhead of `/yolo/predict_full`: over HTTP with an image token, against the bare ultralytics
call in-process on the same image (the baseline, in the same run).

    python tools/bench/predict_overhead.py [--requests 30] [--size 1280x960] [--repeats 3]
        [--servers httptools+uvloop,h11+asyncio] [--clients http.client,httpx] [--heap-tuning on|off]
        [--device cpu|cuda] [--skip-own-work]

The model is a YOLOv8n architecture (3.2M parameters, random weights) at imgsz 640: a realistic
per-image cost (on `--device`, the CPU by default; `make validate-gpu` runs it on CUDA too). The server
runs as a real `python -m tator` subprocess on a free loopback port, once per HTTP stack
(`TATOR_HTTP_IMPL` + `TATOR_LOOP_IMPL`) and repeat, and is called by each client in turn: the standard
library's `http.client` (next to no client-side work) and `httpx` (what scripts use). Each HTTP request
is paired with a bare call made right after it (and a GET /healthz, the HTTP floor of this client), so
drift on a shared machine loads both alike; `paired diff` is the median of the per-pair differences.

The server's `Server-Timing` header splits each request without a second clock: `infer` is the forward
pass inside the server, `app` the request inside the application. `outside infer` (the client's time minus
`infer`) is the request's whole fixed cost free of the forward pass's own jitter; `in app` (`app` minus
`infer`) the part spent in the server's Python. The baseline process uses the server's allocator settings
(`--heap-tuning`, tator/runtime/heap.py), so only the server's own work differs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
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
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tator.offline import configure_model_libraries  # noqa: E402
from tator.runtime import heap  # noqa: E402

SETTLE_S = 0.02


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
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--servers", default="httptools+uvloop,h11+asyncio")
    parser.add_argument("--clients", default="http.client,httpx")
    parser.add_argument("--heap-tuning", choices=("on", "off"), default="on")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-own-work", action="store_true", help="leave out the in-process timing of the route")
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

    servers = [tuple(spec.split("+")) for spec in args.servers.split(",")]
    clients = args.clients.split(",")
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown client(s) {sorted(unknown)}: pick from {sorted(CLIENTS)}")
    if args.heap_tuning == "on":
        heap.tune_for_inference()  # the baseline runs with the server's allocator settings
    bare = Bare(weights, pixels, args.device)
    rounds: dict[tuple[str, str, str], Round] = {(*spec, client): Round() for spec in servers for client in clients}
    for _ in range(args.repeats):
        for spec in servers:
            serve_and_time(
                data_dir, image_b64, spec, clients, args.requests, bare, rounds, args.heap_tuning, args.device
            )

    own = None if args.skip_own_work else own_work(data_dir, image_b64, args.requests * args.repeats, args.device)
    print(f"image {width}x{height}, YOLOv8n (random weights), imgsz 640, {args.device}, {args.repeats}x{args.requests} "
          f"requests, heap tuning {args.heap_tuning} (server and baseline)")  # fmt: skip
    print("| uvicorn stack | client | HTTP median ms | bare median ms | ratio | paired diff ms | outside infer ms "
          "| in app ms | `infer` - bare ms | GET /healthz ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (http_impl, loop_impl, client), found in rounds.items():
        http_s, bare_s = statistics.median(found.http), statistics.median(found.bare)
        print(
            f"| {http_impl} + {loop_impl} | {client} | {http_s * 1000:.1f} | {bare_s * 1000:.1f} "
            f"| {http_s / bare_s:.3f}x | {paired(found.http, found.bare):+.2f} | {paired(found.http, found.infer):.2f} "
            f"| {paired(found.app, found.infer):.2f} | {paired(found.infer, found.bare):+.2f} "
            f"| {statistics.median(found.health) * 1000:.2f} |"
        )
    if own is not None:
        print(f"server's own work per request, in-process, outside model.predict: median {own * 1000:.2f} ms")


def paired(first: list[float], second: list[float]) -> float:
    """The median of per-request differences, in ms."""
    return statistics.median(a - b for a, b in zip(first, second, strict=True)) * 1000


@dataclass
class Round:
    """Per stack and client: each HTTP predict (the client's time, and the server's `infer` and `app` from
    its Server-Timing header) paired with the bare call made right after it, and a trivial request's round
    trip (the HTTP floor of this client and machine)."""

    http: list[float] = field(default_factory=list)
    infer: list[float] = field(default_factory=list)
    app: list[float] = field(default_factory=list)
    bare: list[float] = field(default_factory=list)
    health: list[float] = field(default_factory=list)


def server_timing(header: str) -> dict[str, float]:
    """`name;dur=ms` entries of a Server-Timing header, in seconds."""
    found = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";")
        if "dur=" in rest:
            found[name] = float(rest.split("dur=")[1].split(";")[0]) / 1000
    return found


class StdlibClient:
    """`http.client` on one keep-alive connection (reopened when the server has closed an idle one)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body: bytes | None) -> tuple[float, dict[str, float]]:
        headers = {"content-type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status}")
        return elapsed, server_timing(response.getheader("server-timing") or "")

    def close(self) -> None:
        self.conn.close()


class HttpxClient:
    def __init__(self, port: int) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600)

    def call(self, method: str, path: str, body: bytes | None) -> tuple[float, dict[str, float]]:
        headers = {"content-type": "application/json"} if body is not None else {}
        started = time.perf_counter()
        response = self.client.request(method, path, content=body, headers=headers)
        elapsed = time.perf_counter() - started
        response.raise_for_status()
        return elapsed, server_timing(response.headers.get("server-timing", ""))

    def close(self) -> None:
        self.client.close()


CLIENTS: dict[str, type[StdlibClient] | type[HttpxClient]] = {"http.client": StdlibClient, "httpx": HttpxClient}


def own_work(data_dir: Path, image_b64: str, requests: int, device: str) -> float:
    """The route's own fixed cost without HTTP: one predict_full handler call minus the time spent inside
    ultralytics' predict in that same call (robust to a busy machine, which slows both alike)."""
    from fastapi.testclient import TestClient

    from tator.api import detector_schemas, yolo
    from tator.app import create_app
    from tator.detectors.predict import full_mode
    from tator.detectors.predict import predict as predict_flow
    from tator.settings import Settings

    settings = Settings(data_dir=data_dir, device=device, log_level="WARNING", allowed_hosts=["testserver"])
    with TestClient(create_app(settings)) as client:
        client.post("/yolo/active", json={"run_id": "bench"}).raise_for_status()
        token = client.post("/yolo/predict_full", json={"image_base64": image_b64}).json()["image_token"]
        state = client.app.state.tator  # type: ignore[attr-defined]
        runs = asyncio.run(yolo.get_yolo_runs(state))
        spec, _ = runs.active_spec()
        with state.registry.use(spec) as handle:
            model = handle.model
        inner: list[float] = []
        predict = model.predict

        def timed_predict(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return predict(*args, **kwargs)
            finally:
                inner.append(time.perf_counter() - started)

        model.predict = timed_predict
        body = detector_schemas.YoloPredictRequest(image_token=token)
        totals = []
        for _ in range(requests + 3):
            started = time.perf_counter()
            warnings: list[str] = []
            run = yolo._model_run(body, state.registry, runs, warnings)  # the handler's own steps
            predict_flow(state.images, body, full_mode(), body.knobs(), run, warnings)
            totals.append(time.perf_counter() - started)
        return statistics.median(t - i for t, i in list(zip(totals, inner, strict=True))[3:])


class Bare:
    """The baseline: ultralytics' own predict on the same image, in this process."""

    def __init__(self, weights: Path, pixels: np.ndarray, device: str) -> None:
        from ultralytics import YOLO

        self.model = YOLO(str(weights))
        self.device = device
        self.bgr = np.ascontiguousarray(pixels[:, :, ::-1])
        self.time(3)

    def time(self, n: int) -> list[float]:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            self.model.predict(self.bgr, imgsz=640, conf=0.25, iou=0.45, max_det=300, device=self.device, verbose=False)
            times.append(time.perf_counter() - started)
        return times


def serve_and_time(
    data_dir: Path,
    image_b64: str,
    spec: tuple[str, ...],
    clients: list[str],
    requests: int,
    bare: Bare,
    rounds: dict[tuple[str, str, str], Round],
    heap_tuning: str,
    device: str,
) -> None:
    """Start a server on this stack, then for each client alternate: one HTTP predict, one bare predict,
    one GET /healthz. Pairs taken side by side see the same machine, so their difference is robust to drift;
    a short pause before each timed call lets the other side's OpenMP threads go idle (they spin for a while
    after a forward pass, and on two cores that spinning would be charged to whichever call comes next)."""
    port = free_port()
    env = {
        **os.environ,
        "TATOR_DATA_DIR": str(data_dir),
        "TATOR_PORT": str(port),
        "TATOR_DEVICE": device,
        "TATOR_LOG_LEVEL": "WARNING",
        "TATOR_HTTP_IMPL": spec[0],
        "TATOR_LOOP_IMPL": spec[1],
        "TATOR_HEAP_TUNING": "1" if heap_tuning == "on" else "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "tator"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600) as setup:
            while True:
                try:
                    if setup.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            setup.post("/yolo/active", json={"run_id": "bench"}).raise_for_status()
            token = setup.post("/yolo/predict_full", json={"image_base64": image_b64}).raise_for_status().json()
        body = json.dumps({"image_token": token["image_token"]}).encode()
        for name in clients:
            client = CLIENTS[name](port)
            into = rounds[(spec[0], spec[1], name)]
            try:
                for _ in range(3):
                    client.call("POST", "/yolo/predict_full", body)
                for _ in range(requests):
                    time.sleep(SETTLE_S)
                    elapsed, timings = client.call("POST", "/yolo/predict_full", body)
                    into.http.append(elapsed)
                    into.infer.append(timings["infer"])
                    into.app.append(timings["app"])
                    time.sleep(SETTLE_S)
                    into.bare += bare.time(1)
                    time.sleep(SETTLE_S)
                    into.health.append(client.call("GET", "/healthz", None)[0])
            finally:
                client.close()
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(180)


if __name__ == "__main__":
    main()

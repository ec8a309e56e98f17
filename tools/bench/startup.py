"""Start-up benchmark: time from process start to the first /healthz and /system/health_summary answers,
and the import cost of the server versus the model libraries it must NOT import at start-up.

    python tools/bench/startup.py [--runs 5]
Baseline in the same run: `python -c pass` (bare interpreter start) and `import torch`.
"""

from __future__ import annotations

import argparse
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

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_command(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True)
    return time.perf_counter() - started


def time_server_start() -> tuple[float, float]:
    data_dir = tempfile.mkdtemp(prefix="tator-bench-")
    port = free_port()
    env = {**os.environ, "TATOR_DATA_DIR": data_dir, "TATOR_PORT": str(port), "TATOR_LOG_LEVEL": "WARNING"}
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "tator"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    healthz = time.perf_counter() - started
                    break
            except httpx.HTTPError:
                time.sleep(0.01)
        httpx.get(base + "/system/health_summary", timeout=10).raise_for_status()
        summary = time.perf_counter() - started
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
    return healthz, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = {
        "python -c pass": [time_command("pass") for _ in range(args.runs)],
        "import tator.app (server code)": [time_command("import tator.app") for _ in range(args.runs)],
        "import torch": [time_command("import torch") for _ in range(args.runs)],
        "import ultralytics": [time_command("import ultralytics") for _ in range(args.runs)],
        "import transformers": [time_command("import transformers") for _ in range(args.runs)],
    }
    starts = [time_server_start() for _ in range(args.runs)]
    rows["server start -> /healthz 200"] = [s[0] for s in starts]
    rows["server start -> /system/health_summary 200"] = [s[1] for s in starts]
    print(f"| measurement ({args.runs} runs) | median s | min s | max s |")
    print("|---|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()

"""`make validate`: start a server with the tiny model zoo on a free port, run the matrix, stop it.

A full run (no --only) also rewrites docs/validation-matrix-live.md.

python tools/run_validation.py [--out validation/] [--keep-data]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError("server did not become ready")


@contextlib.contextmanager
def serving(data_dir: Path, log_path: Path, **extra_env: str) -> Iterator[str]:
    """A `python -m tator` process with the tiny zoo on a free port; yields its base URL, stops it after."""
    port = free_port()
    env = {
        **os.environ,
        "TATOR_DATA_DIR": str(data_dir),
        "TATOR_MODEL_ZOO": "tiny",
        "TATOR_OFFLINE": "1",
        "TATOR_PORT": str(port),
        **extra_env,
    }
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "tator"], cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
        try:
            base_url = f"http://127.0.0.1:{port}"
            print(f"server ready in {wait_ready(base_url, server):.2f}s at {base_url} (data: {data_dir})")
            yield base_url
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "validation")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--only", default=None)
    parser.add_argument(
        "--markdown", type=Path, default=REPO_ROOT / "docs" / "validation-matrix-live.md", help="the live matrix"
    )
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="tator-validate-data-"))
    log_path = data_dir / "server.log"
    with serving(data_dir, log_path) as base_url:
        command = [sys.executable, str(REPO_ROOT / "tools" / "validate_matrix.py"), "--base-url", base_url]
        command += ["--out", str(args.out)]
        if args.only:
            command += ["--only", args.only]
        else:  # a partial run does not replace the recorded matrix
            command += ["--markdown", str(args.markdown)]
        code = subprocess.call(command)
    if code != 0:
        print(f"server log: {log_path}")
    elif not args.keep_data:
        shutil.rmtree(data_dir, ignore_errors=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

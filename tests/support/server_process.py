"""Start and stop a real server process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    def __init__(self, args: Sequence[str], env: Mapping[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        full_env = {**os.environ, **env, "TATOR_PORT": str(port), "TATOR_HOST": "127.0.0.1"}
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, *args], cwd=REPO_ROOT, env=full_env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, path: str = "/healthz", timeout: float = 30.0) -> float:
        """Seconds from process start until `path` answered 200."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(self.base_url + path, timeout=1.0).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.HTTPError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"{path} did not answer within {timeout}s")

    def kill_hard(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def start_tator(data_dir: Path, extra_env: Mapping[str, str] | None = None) -> ServerProcess:
    """`python -m tator`, exactly what `make run` serves."""
    port = free_port()
    env = {"TATOR_DATA_DIR": str(data_dir), **(extra_env or {})}
    return ServerProcess(["-m", "tator"], env, port, data_dir.parent / f"server-{port}.log")


def start_test_app(data_dir: Path) -> ServerProcess:
    port = free_port()
    env = {"TATOR_DATA_DIR": str(data_dir), "TATOR_DEVICE": "cpu"}
    args = [
        "-m",
        "uvicorn",
        "--factory",
        "tests.support.server_app:create",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    return ServerProcess(args, env, port, data_dir.parent / f"server-{port}.log")

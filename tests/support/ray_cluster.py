"""A real local Ray cluster for tests: `ray start --head --block` as a child process on free ports,
stopped by signalling that process (never `ray stop`, which would stop every Ray on the machine)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server_process import REPO_ROOT, free_port

RAY = str(Path(sys.executable).with_name("ray"))


@contextmanager
def local_ray_cluster(log_dir: Path, *, num_cpus: int = 2, num_gpus: int = 0) -> Iterator[str]:
    """Start a head node; yields its address (`127.0.0.1:<port>`)."""
    port = free_port()
    temp_dir = Path(f"/tmp/tator-ray-{port}")  # short: Ray's socket paths must stay under 107 bytes
    args = [
        RAY, "start", "--head", "--block", f"--port={port}", f"--num-cpus={num_cpus}", f"--num-gpus={num_gpus}",
        "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp_dir}",
        f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
        f"--dashboard-agent-listen-port={free_port()}",
    ]  # fmt: skip
    # No token auth: a loopback test cluster, and no ~/.ray/auth_token written on a shared machine.
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    log = open(log_dir / f"ray-head-{port}.log", "ab")  # noqa: SIM115 - closed below
    head = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    previous = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # the clients of this process must match the cluster
    try:
        _wait_ready(head, temp_dir)
        yield address
    finally:
        if previous is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = previous
        _stop(head)
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _wait_ready(head: subprocess.Popen[bytes], temp_dir: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}")
        if (temp_dir / "ray_current_cluster").exists() or any(temp_dir.glob("session_*/sockets/raylet*")):
            time.sleep(1.0)  # the raylet registers with the GCS right after its socket appears
            return
        time.sleep(0.2)
    raise TimeoutError("the Ray head did not come up")


def _stop(head: subprocess.Popen[bytes]) -> None:
    """SIGTERM the `ray start --block` process (it stops the processes it started), then its group."""
    if head.poll() is None:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(head.pid, signal.SIGKILL)  # the session this test started, nothing else
    except ProcessLookupError:
        pass
    head.wait(10)

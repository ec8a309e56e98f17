"""Kill a real server at a named pause point, restart it on the same data, and check what is left."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.server_process import ServerProcess, start_tator

LEFTOVER = re.compile(r"^(staging-[0-9a-f]{32}|\.incoming-.*|.*\.tmp|\.deleting-.*)$")


def start(data_dir: Path, *, pause_at: str | None = None, env: Mapping[str, str] | None = None) -> ServerProcess:
    """`python -m tator` on `data_dir` (CPU, no auth), optionally set to freeze at `pause_at`."""
    extra = {"TATOR_DEVICE": "cpu", **(env or {})}
    if pause_at:
        extra |= {"TATOR_TEST_PAUSE_AT": pause_at, "TATOR_TEST_PAUSE_FILE": str(data_dir.parent / "paused")}
        (data_dir.parent / "paused").unlink(missing_ok=True)
    server = start_tator(data_dir, extra)
    server.wait_ready(timeout=60)
    return server


def in_background(call: Callable[[], Any]) -> threading.Thread:
    """Run a request the server will freeze in; its connection error after the kill is expected."""

    def run() -> None:
        try:
            call()
        except httpx.HTTPError:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def kill_when_paused(server: ServerProcess, data_dir: Path, timeout: float = 240) -> None:
    """Wait until the server reached its pause point, then SIGKILL it."""
    marker = data_dir.parent / "paused"
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert server.process.poll() is None, "the server exited before its pause point"
        assert time.monotonic() < deadline, "the pause point was never reached"
        time.sleep(0.02)
    server.kill_hard()


def leftovers(uploads: Path, *, older_than: float) -> list[str]:
    """Staging folders, `.incoming-*`, `*.tmp` and `.deleting-*` under `uploads` from before `older_than`."""
    found = []
    for folder, dirs, files in os.walk(uploads):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            if LEFTOVER.match(name) and path.lstat().st_mtime < older_than:
                found.append(str(path.relative_to(uploads)))
    return found


def dataset_folders(uploads: Path) -> set[str]:
    """Dataset ids on disk: visible, non-empty folders of the registry."""
    root = uploads / "datasets"
    return {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and any(p.iterdir())}


def listed_ids(http: httpx.Client) -> list[str]:
    response = http.get("/datasets")
    assert response.status_code == 200, response.text
    return [entry["id"] for entry in response.json()]


def upload(http: httpx.Client, archive: Path, headers: Mapping[str, str] | None = None, **form: str) -> httpx.Response:
    with open(archive, "rb") as handle:
        files = {"file": (archive.name, handle, "application/zip")}
        return http.post("/datasets/upload", files=files, data=form, headers=dict(headers or {}))


@contextmanager
def restarted(data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[tuple[httpx.Client, float]]:
    """A fresh server on the same data; yields a client and the wall time just before it started."""
    started = time.time()
    server = start(data_dir, env=env)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            yield http, started
    finally:
        server.stop()


TERMINAL = ("succeeded", "completed", "failed", "cancelled", "interrupted")


def wait_terminal(http: httpx.Client, path: str, timeout: float = 300) -> dict[str, Any]:
    """Poll a job's GET route until it reaches a terminal state (calibration says `completed`)."""
    deadline = time.monotonic() + timeout
    while True:
        body = dict(http.get(path).json())
        if body["status"] in TERMINAL:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)

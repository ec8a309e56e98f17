"""What the negative sweep and the property run share: a tiny-zoo app on a data directory with a canary beside
it, the routes of its OpenAPI schema, and the checks every hostile answer must pass."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings

CANARY = "tator-canary-3f9c1e"
PARAM = re.compile(r"\{([^}]+)\}")
# POST routes that queue a job (training, grafting, prompt search, and the later workflow domains' /jobs):
# the property run leaves them out, since a valid body would start one; the negative sweep keeps them.
JOB_START = re.compile(r"/(jobs|train)$")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: str | None  # the request body's content type, when the route takes one

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.path)

    def url(self, value: str) -> str:
        return PARAM.sub(lambda _: value, self.path)


@dataclass
class Sandbox:
    client: TestClient
    settings: Settings
    root: Path  # the data directory's parent: nothing may appear here but the data directory

    def outside_files(self) -> dict[str, float]:
        """Every file outside the data directory under `root` (and the canaries above it), with its mtime."""
        found: dict[str, float] = {}
        for folder, dirs, files in os.walk(self.root):
            if Path(folder) == self.root:
                dirs[:] = [d for d in dirs if (self.root / d) != self.settings.data_dir]
            for name in files:
                path = Path(folder, name)
                found[str(path)] = path.stat().st_mtime
        for canary in self.root.parent.glob("canary*.txt"):
            found[str(canary)] = canary.stat().st_mtime
        return found


@contextmanager
def sandbox(tmp_path: Path, tiny_zoo_dir: Path) -> Iterator[Sandbox]:
    """An app on `tmp_path/root/data` (tiny zoo linked in), canary files in `tmp_path` and `tmp_path/root`."""
    root = tmp_path / "root"
    settings = Settings(data_dir=root / "data", device="cpu", model_zoo="tiny", log_level="CRITICAL")
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, settings.uploads_dir / "zoo")
    for folder in (tmp_path, root):
        (folder / "canary.txt").write_text(CANARY, encoding="utf-8")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield Sandbox(client, settings, root)


def routes(schema: dict[str, Any]) -> list[Route]:
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            found.append(Route(method.upper(), path, next(iter(content), None)))
    return found


class Answer(Protocol):
    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...


def problem(response: Answer) -> str | None:
    """Why this answer to a hostile request is wrong, or None when it is a clean refusal (or a plain success)."""
    text = response.text
    if response.status_code >= 500:
        return f"{response.status_code} {text[:200]}"
    if "Traceback" in text or 'File "/' in text:
        return f"traceback in the body: {text[:200]}"
    if CANARY in text or "root:x:0:0" in text:
        return "the body holds a file from outside the data directory"
    return None

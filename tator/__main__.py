"""`python -m tator`: read Settings from the environment and serve."""

from __future__ import annotations

import importlib.util
import logging

import uvicorn

from tator.app import create_app
from tator.settings import Settings

log = logging.getLogger(__name__)


def _available(module: str, wanted: str, fallback: str) -> str:
    """`wanted` when its module is importable, else the pure-Python `fallback` (with a warning)."""
    if wanted == fallback or importlib.util.find_spec(module) is not None:
        return wanted
    log.warning("server.%s_missing using=%s", module, fallback)
    return fallback


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=15,
        # Measured in docs/benchmarks.md (tools/bench/predict_overhead.py --servers ...).
        http=_available("httptools", settings.http_impl, "h11"),
        loop=_available("uvloop", settings.loop_impl, "asyncio"),
    )


if __name__ == "__main__":
    main()

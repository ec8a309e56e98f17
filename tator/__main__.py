"""`python -m tator`: read Settings from the environment and serve."""

from __future__ import annotations

import uvicorn

from tator.app import create_app
from tator.settings import Settings


def main() -> None:
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=15,
    )


if __name__ == "__main__":
    main()

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.offline import OFFLINE_SWITCHES
from tator.settings import Settings
from tests.fakes import FakeLoader

pytest_plugins = ["tests.fixtures_zoo"]


def pytest_configure(config: pytest.Config) -> None:
    del config
    # Before any test imports a model library: no hub downloads, no pip installs, no telemetry.
    for name, value in OFFLINE_SWITCHES.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("TATOR_OFFLINE", "1")  # Settings built by tests are offline too


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config  # required by the hook's signature
    from tator.runtime.device import cuda_device_count

    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and cuda_device_count() == 0:
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in gpu_items:
            item.add_marker(skip)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", device="cpu", log_level="WARNING")


@pytest.fixture
def fake_loader() -> FakeLoader:
    return FakeLoader()


@pytest.fixture
def client(settings: Settings, fake_loader: FakeLoader) -> Iterator[TestClient]:
    app = create_app(settings, loaders={"fake": fake_loader})
    with TestClient(app) as test_client:
        yield test_client

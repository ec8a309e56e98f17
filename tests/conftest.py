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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config  # required by the hook's signature
    from tator.runtime.device import cuda_device_count

    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_items and cuda_device_count() == 0:
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in gpu_items:
            item.add_marker(skip)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--executor",
        choices=("thread", "ray"),
        default="thread",
        help="run the apps the tests build with this job executor (ray: a local cluster started for the session)",
    )


@pytest.fixture(scope="session", autouse=True)
def job_executor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`--executor=ray`: every app built from Settings in this session runs its jobs on a real local Ray
    cluster (`make test-ray` runs the tests marked `executor_matrix` so)."""
    if request.config.getoption("--executor") != "ray":
        yield "thread"
        return
    from tests.support.ray_cluster import local_ray_cluster

    with local_ray_cluster(tmp_path_factory.mktemp("ray")) as address:
        os.environ.update(TATOR_EXECUTOR="ray", TATOR_RAY_ADDRESS=address)
        try:
            yield "ray"
        finally:
            for name in ("TATOR_EXECUTOR", "TATOR_RAY_ADDRESS"):
                os.environ.pop(name, None)


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

"""Pytest plugin: the offline tiny model zoo and a synthetic detection dataset, built once per session.

Register with `pytest_plugins = ["tests.fixtures_zoo"]` (or `-p tests.fixtures_zoo`). Set `TATOR_TEST_ZOO_DIR`
to keep the zoo between sessions (it is rebuilt only when its manifest is missing or stale).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tator.offline import configure_model_libraries
from tator.zoo.synthetic import SyntheticDataset, make_detection_dataset

ZOO_DIR_ENV = "TATOR_TEST_ZOO_DIR"


@pytest.fixture(scope="session")
def model_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable config dir for the model libraries, with the offline switches set for the session."""
    config_dir = tmp_path_factory.mktemp("model-config")
    configure_model_libraries(config_dir, offline=True)
    return config_dir


@pytest.fixture(scope="session")
def tiny_zoo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's tiny zoo lives: `$TATOR_TEST_ZOO_DIR` if set, else a session temp dir."""
    configured = os.environ.get(ZOO_DIR_ENV)
    if configured:
        return Path(configured).absolute()
    return tmp_path_factory.mktemp("zoo") / "tiny"


@pytest.fixture(scope="session")
def tiny_zoo(model_config_dir: Path, tiny_zoo_dir: Path) -> dict[str, Path]:
    """family -> path of every tiny model (see `tator.zoo.tiny.TINY_FAMILIES`)."""
    assert model_config_dir.is_dir()
    from tator.zoo.tiny import ensure_tiny_zoo

    return ensure_tiny_zoo(tiny_zoo_dir)


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDataset:
    """The default synthetic dataset (3 classes, 24 train + 8 val images of 128 px, seed 0)."""
    return make_detection_dataset(tmp_path_factory.mktemp("synthetic") / "shapes")

"""The import-linter contracts name every top-level module of tator, so a new package cannot slip past them."""

from __future__ import annotations

import pkgutil
import tomllib
from pathlib import Path
from typing import Any

import tator

_WEB = {"tator.__main__", "tator.app", "tator.api"}


def _contracts() -> dict[str, dict[str, Any]]:
    pyproject = tomllib.loads((Path(tator.__file__).parents[1] / "pyproject.toml").read_text())
    return {c["name"]: c for c in pyproject["tool"]["importlinter"]["contracts"]}


def _top_level_modules() -> set[str]:
    return {f"tator.{m.name}" for m in pkgutil.iter_modules(tator.__path__)}


def test_every_module_has_a_layer() -> None:
    layers = _contracts()["tator layers"]["layers"]
    named = {part.strip() for layer in layers for part in layer.replace("|", ":").split(":")}
    assert _top_level_modules() - named == set()


def test_every_non_web_module_is_kept_from_fastapi() -> None:
    contract = _contracts()["only the web layer touches fastapi"]
    assert set(contract["forbidden_modules"]) == {"fastapi", "starlette"}
    assert _top_level_modules() - _WEB - set(contract["source_modules"]) == set()

"""`python -m tator` serves with uvicorn's C parser and loop unless told otherwise, and falls back when absent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import tator.__main__ as entry


def _run_kwargs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    monkeypatch.setenv("TATOR_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(entry.uvicorn, "run", lambda app, **kwargs: seen.update(kwargs))
    entry.main()
    return seen


def test_fast_http_stack_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    kwargs = _run_kwargs(monkeypatch, tmp_path)
    assert (kwargs["http"], kwargs["loop"]) == ("httptools", "uvloop")


def test_pure_python_stack_on_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TATOR_HTTP_IMPL", "h11")
    monkeypatch.setenv("TATOR_LOOP_IMPL", "asyncio")
    kwargs = _run_kwargs(monkeypatch, tmp_path)
    assert (kwargs["http"], kwargs["loop"]) == ("h11", "asyncio")


def test_missing_fast_modules_fall_back(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(entry.importlib.util, "find_spec", lambda name: None)
    kwargs = _run_kwargs(monkeypatch, tmp_path)
    assert (kwargs["http"], kwargs["loop"]) == ("h11", "asyncio")

"""tator/runtime/heap.py: the one place that talks to glibc's allocator."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.runtime import heap
from tator.settings import Settings

glibc = pytest.mark.skipif(heap._libc() is None, reason="needs glibc")


@glibc
def test_tuning_and_trimming_apply_on_glibc() -> None:
    assert heap.tune_for_inference() is True
    assert heap.tune_for_inference() is True  # idempotent
    assert isinstance(heap.trim(), bool)


def test_no_glibc_means_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    heap._libc.cache_clear()
    try:
        assert heap.tune_for_inference() is False
        assert heap.trim() is False
    finally:
        monkeypatch.undo()
        heap._libc.cache_clear()


@pytest.mark.parametrize("enabled", [True, False])
def test_the_server_tunes_the_heap_at_start_up_unless_told_not_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(heap, "tune_for_inference", lambda: calls.append(True) or True)
    settings = Settings(data_dir=tmp_path / "data", device="cpu", log_level="WARNING", heap_tuning=enabled)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
    assert calls == ([True] if enabled else [])

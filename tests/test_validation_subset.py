"""The fast subset of the validation matrix, run in-process on every `make test`.

`make validate` runs every row against a real server; these rows need no model and take seconds, so the
matrix tool itself (row discovery, the row checks, the Markdown it writes) cannot rot between live runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings

TOOLS = Path(__file__).resolve().parents[1] / "tools"
FAST_SECTIONS = ("System / Runtime", "Dataset & Glossary Management", "Crop")
SLOW_ROWS = ("/runtime/unload", "prepass")  # they load models or train heads: live run only


@pytest.fixture(scope="module")
def matrix() -> Iterator[Any]:
    sys.path.insert(0, str(TOOLS))
    try:
        import validate_matrix

        yield validate_matrix
    finally:
        sys.path.remove(str(TOOLS))


@pytest.fixture
def live_client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", device="cpu", log_level="WARNING", model_zoo="tiny")
    with TestClient(create_app(settings)) as client:
        yield client


def test_fast_rows_pass_in_process(matrix: Any, live_client: TestClient, tmp_path: Path) -> None:
    from validation.context import ValidationContext

    rows = [
        row
        for row in matrix.discover_rows()
        if row[0].startswith(FAST_SECTIONS) and not any(slow in row[1] for slow in SLOW_ROWS)
    ]
    assert len(rows) >= 12, [row[1] for row in rows]
    ctx = ValidationContext(base_url="http://testserver", http=live_client, workdir=tmp_path)
    results = matrix.run_rows(rows, ctx, None)
    failed = [(r.row, r.detail) for r in results if r.status != "passed"]
    assert not failed
    rendered = matrix.render_markdown(matrix.with_unchecked(results), "http://testserver")
    assert rendered.count("\n- ✅ ") == len(rows)
    assert "\n- ❌ " not in rendered

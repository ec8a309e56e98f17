"""The API guide's error-code table is the registry's, generated (tools/error_table.py)."""

from __future__ import annotations

from tator.errors import all_error_classes
from tools.error_table import GUIDE, render


def test_the_guide_error_table_is_current() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert render(text) == text, "run: python tools/error_table.py"


def test_the_table_lists_every_registered_code_once() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    for cls in all_error_classes():
        if not cls.__module__.startswith("tator.errors."):
            continue  # error classes a test defines for itself
        assert text.count(f"| `{cls.code}` |") == 1, cls.code

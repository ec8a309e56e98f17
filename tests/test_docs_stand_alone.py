"""The README and the docs stand alone: no link leaves the repository (a clone has nothing beside it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_reference_leaves_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "../shared" not in text and "/work/" not in text
    for target in LINK.findall(text):
        if target.startswith("#") or target.startswith(("http://127.0.0.1", "http://localhost")):
            continue
        assert not re.match(r"^[a-z]+:", target), f"{doc.name} links outside the repository: {target}"
        resolved = (doc.parent / target.split("#", 1)[0]).resolve()
        assert ROOT in resolved.parents and resolved.exists(), f"{doc.name}: broken or external link {target}"

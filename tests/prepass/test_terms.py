from __future__ import annotations

from tator.prepass.terms import class_terms, glossary_terms, usable


def test_terms_are_cleaned_and_bounded() -> None:
    assert usable('  "a red box" ') == "red box"
    assert usable("x" * 41) is None
    assert usable("car (vehicle)") is None and usable("car: auto") is None and usable("a -> b") is None
    plan = class_terms(
        ["red_square", "BlueTriangle"], {"red_square": ["Red Square", "crimson tile", "tile", "e.g. brick"]}, budget=2
    )
    assert [(t.term, t.origin) for t in plan[0]] == [
        ("red square", "label"), ("red_square", "label"), ("crimson tile", "glossary")
    ]  # fmt: skip
    assert [t.term for t in plan[1]] == ["blue triangle", "BlueTriangle"]
    assert all(t.class_id == 1 for t in plan[1])
    assert [t.term for t in class_terms(["red_square"], {"red_square": ["tile"]}, budget=0)[0]] == [
        "red square", "red_square"
    ]  # fmt: skip


def test_glossary_text_maps_to_labels_by_normalised_name() -> None:
    terms = glossary_terms("Red Square: crimson tile, brick\nunknown: thing", ["red_square", "green_circle"])
    assert terms == {"red_square": ["crimson tile", "brick"], "green_circle": []}

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tator.datasets import glossary_library
from tator.datasets.glossary import clean_term, normalise_glossary, parse_glossary, terms_for_labels
from tator.datasets.labels import labels_match, normalise_label
from tator.errors import GlossaryNameConflict, GlossaryNameInvalid, GlossaryNameRequired, GlossaryNotFound


def test_normalise_label_is_case_space_and_punctuation_insensitive() -> None:
    assert normalise_label("Red Car") == normalise_label("red_car") == normalise_label(" red-car! ") == "redcar"
    assert normalise_label("Straße") == normalise_label("STRASSE")
    assert labels_match(["Person", "traffic light"], ["person", "traffic_light"])
    assert not labels_match(["a", "b"], ["b", "a"])


def test_json_object_form() -> None:
    text = json.dumps({"car": ["sedan", "hatchback"], "person": "pedestrian; walker / hiker"})
    assert parse_glossary(text) == {"car": ["sedan", "hatchback"], "person": ["pedestrian", "walker", "hiker"]}


def test_json_list_form_with_every_key_spelling() -> None:
    text = json.dumps(
        [
            {"label": "car", "synonyms": ["auto"]},
            {"class": "dog", "terms": "puppy, hound"},
            {"name": "cat", "values": ["kitty"]},
            {"label": "bird", "list": "sparrow or finch"},
        ]
    )
    assert parse_glossary(text) == {"car": ["auto"], "dog": ["puppy", "hound"], "cat": ["kitty"],
                                    "bird": ["sparrow", "finch"]}  # fmt: skip


@pytest.mark.parametrize(
    "line",
    ["car: sedan, coupe", "car -> sedan; coupe", "car = sedan / coupe", "car - sedan and coupe", "car (sedan, coupe)",
     "- car: sedan, coupe", "1. car: sedan, coupe", "* car → sedan, coupe"],
)  # fmt: skip
def test_line_forms(line: str) -> None:
    assert parse_glossary(line) == {"car": ["sedan", "coupe"]}


def test_parenthesised_form_and_filler_stripping_work() -> None:
    """The reference's double-escaped regexes broke both of these."""
    text = "boat (e.g. a kayak, the canoe)\nt-shirt: such as a tee, i.e. polo shirt etc."
    assert parse_glossary(text) == {"boat": ["kayak", "canoe"], "t-shirt": ["tee", "polo shirt"]}
    assert clean_term('  "e.g. an Apple"  ') == "Apple"


def test_free_text_lines_are_skipped_and_labels_merge() -> None:
    text = "# comment\nJust some notes\ncar: sedan\nCAR: Sedan, van"
    assert parse_glossary(text) == {"car": ["sedan"], "CAR": ["Sedan", "van"]}
    assert terms_for_labels(parse_glossary(text), ["Car", "truck"]) == {"Car": ["sedan", "van"], "truck": []}


def test_normalise_glossary() -> None:
    assert normalise_glossary("  car: a  \r\nbus: b\r\n") == "car: a\nbus: b"
    assert json.loads(normalise_glossary({"car": ["a"]})) == {"car": ["a"]}
    assert normalise_glossary(None) == ""


def test_library_round_trip_and_file_names(tmp_path: Path) -> None:
    assert glossary_library.save_glossary(tmp_path, "Object class", "car: sedan") == {
        "status": "saved",
        "name": "Object class",
    }
    assert (tmp_path / "Object-class.json").is_file()
    assert glossary_library.get_glossary(tmp_path, "Object class") == {"name": "Object class", "glossary": "car: sedan"}
    assert [g["name"] for g in glossary_library.list_glossaries(tmp_path)] == ["Object class"]
    with pytest.raises(GlossaryNameConflict):
        glossary_library.save_glossary(tmp_path, "Object-class", "x")
    glossary_library.save_glossary(tmp_path, "Vögel", "bird: finch")
    assert glossary_library.get_glossary(tmp_path, "Vögel")["glossary"] == "bird: finch"
    assert glossary_library.delete_glossary(tmp_path, "Object class")["status"] == "deleted"
    with pytest.raises(GlossaryNotFound):
        glossary_library.get_glossary(tmp_path, "Object class")


@pytest.mark.parametrize(
    ("name", "error"),
    [("", GlossaryNameRequired), ("   ", GlossaryNameRequired), ("../x", GlossaryNameInvalid),
     ("...", GlossaryNameInvalid), ("a/b", GlossaryNameInvalid), ("a\\b", GlossaryNameInvalid),
     ("x" * 300, GlossaryNameInvalid), ("a\x00b", GlossaryNameInvalid)],
)  # fmt: skip
def test_library_refuses_bad_names(tmp_path: Path, name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        glossary_library.save_glossary(tmp_path, name, "x")
    assert list(tmp_path.iterdir()) == []

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tator.prepass.candidates import Candidate, make_atoms, to_detection

LABELS = ["car", "person"]


def test_provenance_is_completed_on_construction() -> None:
    c = Candidate(box=(0, 0, 10, 10), label="car", class_id=0, score=0.7, source="yolo")
    assert c.source_primary == "yolo"
    assert c.source_list == ("yolo",)
    assert c.score_by_source == {"yolo": 0.7}
    assert c.scored
    assert not Candidate(box=(0, 0, 1, 1), label="car", class_id=0).scored
    assert not Candidate(box=(0, 0, 1, 1), label="car", class_id=0, score=0.5).scored  # source unknown


def test_record_is_frozen_and_strict() -> None:
    c = Candidate(box=(0, 0, 10, 10), label="car", class_id=0, score=0.7, source="yolo")
    with pytest.raises(ValidationError):
        c.score = 0.1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Candidate.model_validate({"box": (0, 0, 1, 1), "label": "car", "class_id": 0, "bogus": 1})


def test_json_round_trip() -> None:
    c = Candidate(
        box=(1.5, 2, 30, 40), label="person", class_id=1, score=0.4, source="sam3_text", prompt_term="people",
        window=(0, 0, 50, 50), grid_cell="A1", atom_ids=("sam3_text:A1:0",),
    )  # fmt: skip
    assert Candidate.model_validate_json(c.model_dump_json()) == c


def test_make_atoms_ids_and_labels() -> None:
    atoms = make_atoms(
        [[0, 0, 10, 10], [5, 5, 20, 20]], [0.9, 0.3], [1, 0], LABELS, source="rfdetr", run_id="rfdetr:windowed"
    )
    assert [a.label for a in atoms] == ["person", "car"]
    assert [a.atom_ids for a in atoms] == [("rfdetr:windowed:0",), ("rfdetr:windowed:1",)]
    assert atoms[0].run_id == "rfdetr:windowed"
    assert atoms[1].score_by_source == {"rfdetr": 0.3}


def test_detection_has_every_convention() -> None:
    c = Candidate(
        box=(10, 20, 50, 80), label="car", class_id=0, score=0.8, source="sam3_text", prompt_term="auto",
        prompt_origin="glossary", window=(0, 0, 100, 100), grid_cell="A1",
    )  # fmt: skip
    d = to_detection(c, 200, 100)
    assert d.bbox_xyxy_px == [10, 20, 50, 80]
    assert d.bbox_xywh_px == [10, 20, 40, 60]
    assert d.bbox_2d == [50, 200, 250, 800]
    assert d.bbox_yolo == pytest.approx([0.15, 0.5, 0.2, 0.6])
    assert d.window_bbox_2d == [0, 0, 500, 1000]
    assert d.sam3_prompt_term == "auto" and d.sam3_prompt_label == "car" and d.sam3_prompt_source == "glossary"
    assert d.source_list == ["sam3_text"] and d.score_by_source == {"sam3_text": 0.8}

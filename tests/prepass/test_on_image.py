"""Candidates are clipped to the image before any dedupe; those left without area are dropped and counted."""

from __future__ import annotations

from tator.prepass.candidates import make_atoms
from tator.prepass.pipeline import on_image
from tator.prepass.trace import Trace


def test_boxes_are_clipped_and_empty_ones_dropped_with_a_warning() -> None:
    boxes = [(10, 10, 50, 40), (-20, 5, 30, 200), (40, 0, 40, 0), (120, 10, 160, 20), (5, 5, 5.5, 30)]
    atoms = make_atoms(boxes, [0.9] * 5, [0] * 5, ["square"], source="sam3_text", run_id="t")
    trace = Trace()
    kept = on_image(atoms, 100, 80, trace)
    assert [c.box for c in kept] == [(10, 10, 50, 40), (0, 5, 30, 80)]
    assert [c.atom_ids for c in kept] == [("t:0",), ("t:1",)]  # provenance kept through the clip
    assert trace.warnings == ["prepass_empty_boxes_dropped:3"]
    assert on_image(kept, 100, 80, Trace()) == kept

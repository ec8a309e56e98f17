from __future__ import annotations

from typing import Any

from tator.prepass import sam3_step
from tator.prepass.candidates import Candidate
from tator.prepass.config import PrepassConfig
from tator.prepass.sam3_step import contexts, exemplars, grid_contexts
from tator.prepass.terms import PromptTerm
from tator.prepass.trace import Trace


def test_grid_cells_are_named_grown_and_clipped() -> None:
    cells = grid_contexts(200, 100, 2, 2, 0.2)
    assert [c.name for c in cells] == ["A1", "B1", "A2", "B2"]
    assert cells[0].window == (0, 0, 110, 55)
    assert cells[3].window == (90, 45, 200, 100)
    config = PrepassConfig(grid_cols=1, grid_rows=1)
    assert [c.name for c in contexts(200, 100, config, windows=True)] == ["full"]
    assert len(contexts(200, 100, PrepassConfig(), windows=True)) == 5
    assert len(contexts(200, 100, PrepassConfig(), windows=False)) == 1


def test_exemplars_are_the_best_boxes_per_class_above_the_minimum() -> None:
    def cand(score: float, class_id: int) -> Candidate:
        return Candidate(box=(0, 0, 5, 5), label=str(class_id), class_id=class_id, score=score, source="yolo")

    found = [cand(0.9, 0), cand(0.7, 0), cand(0.65, 0), cand(0.95, 0), cand(0.5, 1)]
    picked = exemplars(found, PrepassConfig(similarity_exemplar_count=2, similarity_min_exemplar_score=0.6))
    assert {k: [c.score for c in v] for k, v in picked.items()} == {0: [0.95, 0.9]}


def test_the_text_step_traces_every_prompt_it_sends() -> None:
    """Which prompts SAM3 got is in the trace, not only in the boxes the dedupe happened to keep."""

    class Session:
        trace = Trace()
        asked: list[str] = []

        def query(self, context: Any, query: Any) -> tuple[list[Any], list[float]]:
            self.asked.append(query.text)
            return [], []

    session = Session()
    terms = {
        0: [
            PromptTerm(class_id=0, term="car", origin="label"),
            PromptTerm(class_id=0, term="sedan", origin="glossary"),
        ],
        1: [PromptTerm(class_id=1, term="truck", origin="label")],
    }
    config = PrepassConfig()
    sam3_step.text_step(session, terms, ["car", "truck"], config, contexts(64, 64, config, windows=False))  # type: ignore[arg-type]
    event = session.trace.events[-1]
    assert event.tool_name == "sam3_text"
    assert event.tool_input is not None and event.tool_input["prompts"] == {"car": ["car", "sedan"], "truck": ["truck"]}
    assert session.asked == ["car", "sedan", "truck"]

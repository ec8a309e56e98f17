from __future__ import annotations

import pytest

from tator.prepass.candidates import Candidate
from tator.prepass.dedupe import DedupeConfig, dedupe, drop_scoreless, merge_candidates


def cand(box: tuple[float, float, float, float], label: str, score: float | None, source: str, atom: str) -> Candidate:
    return Candidate(
        box=box, label=label, class_id=0 if label == "car" else 1, score=score, source=source, atom_ids=(atom,)
    )


def test_same_class_merge_keeps_per_source_max_and_union() -> None:
    items = [
        cand((0, 0, 10, 10), "car", 0.6, "yolo", "y:0"),
        cand((0, 0, 10, 10.5), "car", 0.9, "sam3_text", "s:0"),
        cand((0, 0.2, 10, 10), "car", 0.7, "yolo", "y:1"),
        cand((50, 50, 60, 60), "car", 0.5, "rfdetr", "r:0"),
    ]
    out = merge_candidates(items, iou=0.75)
    assert len(out) == 2
    top = out[0]
    assert top.score == 0.9 and top.source == "sam3_text" and top.box == (0, 0, 10, 10.5)
    assert top.source_list == ("sam3_text", "yolo")
    assert top.score_by_source == {"sam3_text": 0.9, "yolo": 0.7}
    assert top.atom_ids == ("s:0", "y:1", "y:0")
    assert out[1].atom_ids == ("r:0",)


def test_below_iou_and_other_class_stay_apart() -> None:
    items = [cand((0, 0, 10, 10), "car", 0.9, "yolo", "a"), cand((5, 0, 15, 10), "car", 0.8, "yolo", "b")]
    assert len(merge_candidates(items, iou=0.75)) == 2  # IoU 1/3
    assert len(merge_candidates(items, iou=0.3)) == 1
    other = [cand((0, 0, 10, 10), "car", 0.9, "yolo", "a"), cand((0, 0, 10, 10), "person", 0.95, "yolo", "b")]
    assert len(merge_candidates(other, iou=0.5)) == 2


def test_cross_class_merge_at_its_own_iou_higher_score_wins() -> None:
    items = [cand((0, 0, 10, 10), "car", 0.6, "yolo", "a"), cand((0, 0, 10, 9), "person", 0.8, "rfdetr", "b")]
    assert len(merge_candidates(items, iou=0.5, cross_class_iou=0.95)) == 2  # IoU 0.9
    (one,) = merge_candidates(items, iou=0.5, cross_class_iou=0.85)
    assert one.label == "person" and one.class_id == 1 and one.score == 0.8
    assert one.score_by_source == {"rfdetr": 0.8, "yolo": 0.6}


def test_tie_keeps_first_and_missing_score_counts_zero() -> None:
    a, b = cand((0, 0, 10, 10), "car", 0.5, "yolo", "a"), cand((0, 0, 10, 10), "car", 0.5, "rfdetr", "b")
    assert merge_candidates([a, b])[0].source == "yolo"
    assert merge_candidates([b, a])[0].source == "rfdetr"
    loose = cand((0, 0, 10, 10), "car", None, "unknown", "u")
    (merged,) = merge_candidates([loose, a])
    assert merged.source == "yolo" and merged.atom_ids == ("a", "u")


def test_wbf_fuses_boxes_by_score() -> None:
    items = [cand((0, 0, 10, 10), "car", 0.75, "yolo", "a"), cand((1, 0, 11, 10), "car", 0.25, "sam3_text", "b")]
    (one,) = merge_candidates(items, iou=0.5, fusion="wbf")
    assert one.box == pytest.approx((0.25, 0, 10.25, 10))
    (plain,) = merge_candidates(items, iou=0.5)
    assert plain.box == (0, 0, 10, 10)


def test_invalid_boxes_pass_through() -> None:
    bad = cand((5, 5, 5, 9), "car", 0.99, "yolo", "bad")
    good = cand((5, 5, 9, 9), "car", 0.5, "yolo", "good")
    out = merge_candidates([bad, good, good.model_copy(update={"atom_ids": ("g2",)})])
    assert [c.atom_ids for c in out] == [("bad",), ("good", "g2")]  # by score; the invalid box is not merged


def test_scoreless_filter_needs_a_scored_anchor() -> None:
    anchor = cand((0, 0, 10, 10), "car", 0.9, "yolo", "a")
    near = cand((0, 0, 10, 9), "person", None, "unknown", "n")
    far = cand((40, 40, 50, 50), "car", 0.3, "unknown", "f")
    assert drop_scoreless([anchor, near, far], iou=0.5) == [anchor, near]
    assert drop_scoreless([anchor, near, far], iou=0.0) == [anchor, near, far]
    assert drop_scoreless([near], iou=0.5) == []


def test_many_candidates_cross_row_blocks() -> None:
    items = [cand((i * 20, 0, i * 20 + 10, 10), "car", 0.5, "yolo", f"a{i}") for i in range(600)]
    items += [cand((i * 20, 0, i * 20 + 10, 10.2), "car", 0.4, "rfdetr", f"b{i}") for i in range(600)]
    out = dedupe(items, DedupeConfig(iou=0.9))
    assert len(out) == 600
    assert all(c.source_list == ("yolo", "rfdetr") for c in out)


def test_config_bounds() -> None:
    with pytest.raises(ValueError):
        DedupeConfig(iou=1.5)


def test_per_class_clustering_equals_one_pass_over_all_classes() -> None:
    import numpy as np

    from tator.prepass.candidates import make_atoms

    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (300, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 30, (300, 2))], axis=1)
    items = make_atoms(boxes, rng.uniform(0, 1, 300), rng.integers(0, 3, 300), ["a", "b", "c"], source="yolo",
                       run_id="r")  # fmt: skip
    grouped = merge_candidates(items, iou=0.3)  # per class
    one_pass = merge_candidates(items, iou=0.3, cross_class_iou=1.0)  # all classes together, never merging them
    assert grouped == one_pass and len(grouped) < len(items)

"""Property: whatever the steps found, `apply_image_chain`'s merge never answers two boxes of one class that
overlap above the per-class IoU, and with cross-class de-dup on, none of one group above the cross-class IoU."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tator.agent_mining.chain import Applied, ChainDedupe, class_key, merge
from tator.agent_mining.execute import Found
from tator.annotations import BBox
from tator.vision.boxes import box_iou

coordinate = st.floats(min_value=0, max_value=60, allow_nan=False)
size = st.floats(min_value=1, max_value=40, allow_nan=False)


@st.composite
def detections(draw: st.DrawFn) -> Applied:
    x, y, w, h = draw(coordinate), draw(coordinate), draw(size), draw(size)
    score = draw(st.floats(min_value=0, max_value=1, allow_nan=False))
    name = draw(st.sampled_from(["car", "truck", None]))
    return Applied(
        Found(BBox(x, y, x + w, y + h), score, w * h), class_id=draw(st.integers(0, 2)), class_name=name,
        head_prob=draw(st.none() | st.floats(0, 1)), group=draw(st.sampled_from(["", "g"])),
        cross_class=draw(st.booleans()),
    )  # fmt: skip


def _iou(a: Applied, b: Applied) -> float:
    return float(box_iou(np.asarray([a.found.box], np.float32), np.asarray([b.found.box], np.float32))[0, 0])


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(detections(), max_size=25),
    per_class=st.floats(0.05, 0.95),
    cross=st.none() | st.floats(0.05, 0.95),
    scope=st.sampled_from(["groups", "global"]),
    confidence=st.sampled_from(["sam_score", "clip_head_prob", "clip_head_margin"]),
)
def test_no_two_same_class_boxes_above_the_dedupe_iou(
    items: list[Applied], per_class: float, cross: float | None, scope: str, confidence: str
) -> None:
    settings_ = ChainDedupe(per_class_iou=per_class, cross_class_enabled=cross is not None,
                            cross_class_iou=cross or 0.5, cross_class_scope=scope,  # type: ignore[arg-type]
                            confidence=confidence)  # type: ignore[arg-type]  # fmt: skip
    kept, _ = merge(items, settings_, max_results=1000)
    assert all(any(k is i for i in items) for k in kept)
    assert [k.found.score for k in kept] == sorted((k.found.score for k in kept), reverse=True)
    for a, b in combinations(kept, 2):
        if class_key(a) == class_key(b):
            assert _iou(a, b) < per_class
        elif cross is not None and a.cross_class and b.cross_class and (scope == "global" or a.group == b.group):
            assert _iou(a, b) < cross


def test_a_lone_box_of_each_class_survives_and_originals_keep_their_score() -> None:
    box = BBox(0, 0, 10, 10)
    items = [Applied(Found(box, 0.9, 100.0), 0, "car", head_prob=0.1),
             Applied(Found(box, 0.2, 100.0), 1, "truck", head_prob=0.8)]  # fmt: skip
    kept, _ = merge(items, ChainDedupe(), max_results=10)
    assert [k.class_name for k in kept] == ["car", "truck"]
    crossed, _ = merge(items, ChainDedupe(cross_class_enabled=True, confidence="clip_head_prob"), max_results=10)
    assert [(k.class_name, k.found.score) for k in crossed] == [("truck", 0.2)]  # the head decides, SAM3's score stays

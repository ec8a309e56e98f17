"""The output parser on a corpus of messy VLM answers, and the mapping of both coordinate conventions."""

from __future__ import annotations

import pytest

from tator.qwen.coords import Frame, map_box, to_detections
from tator.qwen.parse import RawDetection, json_values, parse_detections

CAT = (100.0, 200.0, 300.0, 400.0)

# (name, model output, expected (label, box) pairs)
CORPUS: list[tuple[str, str, list[tuple[str, tuple[float, ...]]]]] = [
    ("plain array", '[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}]', [("cat", CAT)]),
    ("fenced json", 'Sure!\n```json\n[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}]\n```\nDone.', [("cat", CAT)]),
    ("fence without language", '```\n{"bbox_2d": [100,200,300,400], "label": "cat"}\n```', [("cat", CAT)]),
    (
        "trailing prose after array",
        '[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}] I found one cat; the {rest} is empty.',
        [("cat", CAT)],
    ),
    (
        "several objects not in a list",
        'Here: {"bbox_2d": [100, 200, 300, 400], "label": "cat"}\nand {"bbox_2d": [1, 2, 3, 4], "label": "dog"}',
        [("cat", CAT), ("dog", (1.0, 2.0, 3.0, 4.0))],
    ),
    (
        "truncated mid object",
        '```json\n[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}, {"bbox_2d": [5, 6, 7',
        [("cat", CAT)],
    ),
    (
        "truncated mid string",
        '[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}, {"bbox_2d": [1, 2, 3, 4], "label": "do',
        [("cat", CAT)],
    ),
    ("numbers as strings", '[{"bbox_2d": ["100", "200", "300", "400"], "label": "cat"}]', [("cat", CAT)]),
    ("nested corner pairs", '[{"bbox": [[100, 200], [300, 400]], "name": "cat"}]', [("cat", CAT)]),
    ("wrapper object", '{"objects": [{"box_2d": [100, 200, 300, 400], "category": "cat"}]}', [("cat", CAT)]),
    ("label to boxes map", '{"cat": [[100, 200, 300, 400]]}', [("cat", CAT)]),
    ("python quotes", "[{'bbox_2d': [100, 200, 300, 400], 'label': 'cat'}]", [("cat", CAT)]),
    (
        "thinking block first",
        '<think>maybe [{"bbox_2d": [0, 0, 1, 1]}]</think>[{"bbox_2d": [100, 200, 300, 400], "label": "cat"}]',
        [("cat", CAT)],
    ),
    (
        "qwen2 grounding tokens",
        "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>",
        [("cat", CAT)],
    ),
    ("missing label uses the default", '[{"bbox_2d": [100, 200, 300, 400]}]', [("thing", CAT)]),
    ("non-finite numbers are skipped", '[{"bbox_2d": [NaN, 200, 300, 400], "label": "x"}]', []),
    ("wrong arity is skipped", '[{"bbox_2d": [100, 200, 300], "label": "x"}]', []),
]


@pytest.mark.parametrize(("name", "text", "expected"), CORPUS, ids=[c[0] for c in CORPUS])
def test_corpus(name: str, text: str, expected: list[tuple[str, tuple[float, ...]]]) -> None:
    result = parse_detections(text, default_label="thing")
    assert [(d.label, d.box) for d in result.detections] == expected, name
    assert ("no_results" in result.warnings) == (not expected)


@pytest.mark.parametrize("text", ["", "I see a cat in the picture.", "```json\n", "[{", "null", "<think>unclosed"])
def test_unparseable_output_is_a_warning(text: str) -> None:
    result = parse_detections(text)
    assert result.detections == []
    assert result.warnings == ["parse_error:qwen_parse_error:no_json_block_found", "no_results"]


def test_points_are_read() -> None:
    result = parse_detections('[{"point_2d": [500, 250], "label": "cat"}, {"point": [1, 2]}]')
    assert [(d.label, d.point, d.box) for d in result.detections] == [
        ("cat", (500.0, 250.0), None),
        ("object", (1.0, 2.0), None),
    ]


def test_scan_is_bounded() -> None:
    values = json_values("[1] " * 100_000)
    assert 0 < len(values) <= 512


@pytest.mark.parametrize("size", [(4000, 3000), (200, 100)])
def test_qwen3_grid_maps_to_pixels_of_the_image_as_sent(size: tuple[int, int]) -> None:
    frame = Frame("qwen3_vl", size, (640, 480))
    assert map_box(frame, (250, 500, 750, 1000), size) == [size[0] * 0.25, size[1] * 0.5, size[0] * 0.75, size[1]]


@pytest.mark.parametrize(("size", "model_size"), [((4000, 3000), (1288, 966)), ((200, 100), (224, 112))])
def test_qwen25_resized_pixels_map_to_pixels_of_the_image_as_sent(
    size: tuple[int, int], model_size: tuple[int, int]
) -> None:
    frame = Frame("qwen2_5_vl", size, model_size)
    box = map_box(frame, (0, 0, model_size[0] / 2, model_size[1]), size)
    assert box == pytest.approx([0.0, 0.0, size[0] / 2, size[1]])


def test_window_offset_reversed_corners_clipping_and_empty_boxes() -> None:
    frame = Frame("qwen3_vl", (100, 100), (128, 128), origin=(50, 20))
    assert map_box(frame, (500, 500, 0, 0), (400, 300)) == [50.0, 20.0, 100.0, 70.0]
    assert map_box(frame, (0, 0, 2000, 2000), (120, 90)) == [50.0, 20.0, 120.0, 90.0]
    dets, dropped = to_detections([RawDetection("a", (10, 10, 10, 900))], frame, (400, 300), source="qwen_bbox")
    assert dets == [] and dropped == 1


def test_detection_dict_has_every_convention() -> None:
    frame = Frame("qwen3_vl", (200, 100), (224, 112))
    [det], _ = to_detections([RawDetection("cat", (0, 0, 500, 1000), score=0.5)], frame, (200, 100), source="q")
    assert det["bbox"] == pytest.approx([0.25, 0.5, 0.5, 1.0])
    assert det["bbox_xyxy_px"] == [0.0, 0.0, 100.0, 100.0] and det["bbox_xywh_px"] == [0.0, 0.0, 100.0, 100.0]
    assert det["bbox_2d"] == [0, 0, 500, 1000] and det["bbox_space"] == "grid_1000"
    assert det["qwen_label"] == "cat" and det["score"] == 0.5 and det["source"] == "q"

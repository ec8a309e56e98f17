"""Turning a VLM's free text into detections: fenced JSON, trailing prose, several objects, truncated output.

The parser never raises on model output. It scans the text for every JSON value it can decode (a fenced
block first, then the bare text), so a list cut off mid-object still yields the objects before the cut.
Qwen2-style grounding tokens (`<|box_start|>(x1,y1),(x2,y2)<|box_end|>`) are read too. Coordinates are
returned exactly as the model wrote them; mapping them to image pixels is `tator.qwen.coords`' job.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_PARSE_CHARS = 64 * 1024
MAX_VALUES = 512
_DECODER = json.JSONDecoder()
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\n?(.*?)(?:```|\Z)", re.S)
_THINK_END = "</think>"
_BOX_KEYS = ("bbox_2d", "bbox", "box_2d", "box", "bounding_box", "coordinates")
_POINT_KEYS = ("point_2d", "point", "points", "center")
_LABEL_KEYS = ("label", "name", "class", "category", "object", "class_name")
_LIST_KEYS = ("objects", "detections", "boxes", "results", "items", "points", "annotations")
_GROUNDING = re.compile(
    r"(?:<\|object_ref_start\|>(?P<label>.*?)<\|object_ref_end\|>\s*)?"
    r"<\|box_start\|>\s*\(\s*(?P<x1>-?\d+(?:\.\d+)?)\s*,\s*(?P<y1>-?\d+(?:\.\d+)?)\s*\)\s*,\s*"
    r"\(\s*(?P<x2>-?\d+(?:\.\d+)?)\s*,\s*(?P<y2>-?\d+(?:\.\d+)?)\s*\)\s*<\|box_end\|>",
    re.S,
)


@dataclass(frozen=True)
class RawDetection:
    """One object as the model wrote it: a box `(x1, y1, x2, y2)` and/or a point `(x, y)` in model space."""

    label: str
    box: tuple[float, float, float, float] | None = None
    point: tuple[float, float] | None = None
    score: float | None = None


@dataclass
class ParseResult:
    detections: list[RawDetection] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def strip_thinking(text: str) -> str:
    """The answer after a reasoning block (`...</think>`), or the text itself; an unclosed `<think>` is dropped."""
    if _THINK_END in text:
        return text.rsplit(_THINK_END, 1)[1]
    start = text.find("<think>")
    return text[:start] if start >= 0 else text


def json_values(text: str) -> list[Any]:
    """Every JSON object or array decodable in `text`, left to right, without overlaps.

    Fenced blocks are tried first (their content only); when they yield nothing the whole text is scanned.
    A truncated array yields the complete objects it holds.
    """
    text = text[:MAX_PARSE_CHARS]
    fenced = [m.group(1) for m in _FENCE.finditer(text)]
    for candidates in (fenced, [text]):
        values = [v for chunk in candidates for v in _scan(chunk)]
        if values:
            return values[:MAX_VALUES]
    return []


def _scan(text: str) -> Iterator[Any]:
    position, found = 0, 0
    while found < MAX_VALUES:
        starts = [i for i in (text.find("{", position), text.find("[", position)) if i >= 0]
        if not starts:
            return
        start = min(starts)
        try:
            value, end = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):
            position = start + 1
            continue
        if isinstance(value, dict | list):
            found += 1
            yield value
        position = end


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _numbers(value: Any, count: int) -> tuple[float, ...] | None:
    if isinstance(value, str):
        value = re.findall(r"-?\d+(?:\.\d+)?", value)
    if isinstance(value, dict):
        keys = ("x1", "y1", "x2", "y2") if count == 4 else ("x", "y")
        value = [value.get(k) for k in keys]
    if isinstance(value, list | tuple) and value and all(isinstance(v, list | tuple) for v in value):
        value = [v for pair in value for v in pair]  # [[x1, y1], [x2, y2]]
    if not isinstance(value, list | tuple) or len(value) != count:
        return None
    numbers = tuple(_number(v) for v in value)
    return None if any(n is None for n in numbers) else tuple(float(n) for n in numbers if n is not None)


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    return next((obj[k] for k in keys if k in obj), None)


def _detection(obj: dict[str, Any], default_label: str) -> RawDetection | None:
    box = _numbers(_first(obj, _BOX_KEYS), 4)
    point = _numbers(_first(obj, _POINT_KEYS), 2)
    if box is None and point is None:
        return None
    label = _first(obj, _LABEL_KEYS)
    label = label.strip()[:200] if isinstance(label, str) and label.strip() else default_label
    score = _number(_first(obj, ("score", "confidence")))
    return RawDetection(
        label=label,
        box=(box[0], box[1], box[2], box[3]) if box else None,
        point=(point[0], point[1]) if point else None,
        score=score,
    )


def _objects(value: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 4:
        return
    if isinstance(value, list):
        for item in value:
            yield from _objects(item, depth + 1)
    elif isinstance(value, dict):
        if _first(value, _BOX_KEYS) is not None or _first(value, _POINT_KEYS) is not None:
            yield value
            return
        for key in _LIST_KEYS:
            if isinstance(value.get(key), list):
                yield from _objects(value[key], depth + 1)
                return
        if len(value) and all(isinstance(v, list) for v in value.values()):  # {"cat": [[x1, y1, x2, y2], ...]}
            for label, boxes in value.items():
                for box in boxes:
                    yield {"label": label, "bbox_2d": box}


def _from_values(values: list[Any], default_label: str) -> list[RawDetection]:
    found = (_detection(obj, default_label) for value in values for obj in _objects(value))
    return [d for d in found if d is not None]


def parse_detections(text: str, *, default_label: str = "object") -> ParseResult:
    """Detections found in a model answer, plus `parse_error:...` / `no_results` warnings (never raises)."""
    answer = strip_thinking(text or "")
    result = ParseResult()
    for match in _GROUNDING.finditer(answer[:MAX_PARSE_CHARS]):
        x1, y1, x2, y2 = (float(match.group(k)) for k in ("x1", "y1", "x2", "y2"))
        label = (match.group("label") or default_label).strip()[:200]
        result.detections.append(RawDetection(label, (x1, y1, x2, y2)))
    values = json_values(answer)
    if not values and not result.detections:
        result.warnings.append("parse_error:qwen_parse_error:no_json_block_found")
    found = _from_values(values, default_label)
    if not found and "'" in answer and '"' not in answer:  # Python-style: [{'bbox_2d': [...], 'label': 'cat'}]
        found = _from_values(json_values(answer.replace("'", '"')), default_label)
    result.detections.extend(found)
    if not result.detections:
        result.warnings.append("no_results")
    return result

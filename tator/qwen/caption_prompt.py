"""Caption prompts (label hints with boxes, counts, sentence limits, glossary) and caption clean-up.

Label hint boxes arrive as xyxy pixels of the client's frame (`image_width` x `image_height`, the image as
sent when absent) and are written into the prompt in the model's own convention (`tator.qwen.coords`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from tator.errors import QwenLabelHintInvalid
from tator.qwen.coords import Frame, bbox_space

MAX_HINTS = 2000
MAX_PROMPT_BOXES = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_SPECIAL_TOKEN = re.compile(r"<\|[a-z_]+\|>")
PATCH_FACTOR = {"qwen2_5_vl": 28, "qwen2_vl": 28}  # patch x merge size; Qwen3-VL: 16 x 2
MERGE_TEMPLATE = (
    "These are descriptions of overlapping regions of one image, left to right and top to bottom:\n{windows}\n"
    "Write one caption of the whole image in at most {sentences} sentences, without repeating yourself."
)


@dataclass(frozen=True)
class LabelHint:
    label: str
    bbox: tuple[float, float, float, float] | None = None  # xyxy pixels of the hint frame


@dataclass(frozen=True)
class CaptionSpec:
    user_prompt: str | None = None
    hints: tuple[LabelHint, ...] = ()
    include_counts: bool = True
    include_coords: bool = True
    max_boxes: int = 0  # 0: up to MAX_PROMPT_BOXES
    restrict_to_labels: bool = True
    max_sentences: int = 10
    final_answer_only: bool = True
    glossary: str = ""


@dataclass
class CleanCaption:
    text: str
    truncated: bool = False
    events: list[str] = field(default_factory=list)


def check_hints(raw: Sequence[tuple[str, Sequence[float] | None]]) -> tuple[LabelHint, ...]:
    """Validated hints: a non-empty label, and a box of 4 finite numbers with x2 > x1 and y2 > y1."""
    if len(raw) > MAX_HINTS:
        raise QwenLabelHintInvalid(f"at most {MAX_HINTS} label hints", limit=MAX_HINTS)
    hints = []
    for index, (label, bbox) in enumerate(raw):
        if not label or not label.strip():
            raise QwenLabelHintInvalid(f"label_hints[{index}] has no label", index=index)
        box = None
        if bbox is not None:
            if len(bbox) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in bbox):
                raise QwenLabelHintInvalid(f"label_hints[{index}].bbox must be 4 finite numbers", index=index)
            x1, y1, x2, y2 = (float(v) for v in bbox)
            if x2 <= x1 or y2 <= y1:
                raise QwenLabelHintInvalid(f"label_hints[{index}].bbox must be [x1, y1, x2, y2]", index=index)
            box = (x1, y1, x2, y2)
        hints.append(LabelHint(label.strip()[:200], box))
    return tuple(hints)


def model_size(family: str, size: tuple[int, int], min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) the processor resizes an image of `size` to (same rule as transformers' smart_resize)."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    height, width = smart_resize(size[1], size[0], PATCH_FACTOR.get(family, 32), min_pixels, max_pixels)
    return int(width), int(height)


def _hint_line(hint: LabelHint, frame: Frame, scale: tuple[float, float]) -> str:
    assert hint.bbox is not None
    x1, y1, x2, y2 = hint.bbox
    a = frame.to_model(x1 * scale[0], y1 * scale[1])
    b = frame.to_model(x2 * scale[0], y2 * scale[1])
    return f"{hint.label}: [{round(a[0])}, {round(a[1])}, {round(b[0])}, {round(b[1])}]"


def caption_prompt(
    spec: CaptionSpec, frame: Frame, hint_scale: tuple[float, float], *, sentences: int
) -> tuple[str, dict[str, int], int]:
    """(prompt, used counts per label, boxes written) for one caption call on `frame`. Hints whose box
    centre is outside the frame are left out of a window's prompt."""
    hints = [h for h in spec.hints if h.bbox is None or _inside(h, frame, hint_scale)]
    counts = dict(Counter(h.label for h in hints))
    parts = [spec.user_prompt.strip()] if spec.user_prompt and spec.user_prompt.strip() else []
    parts.append(f"Describe this image in at most {sentences} sentences.")
    if hints and spec.include_counts:
        parts.append("Object counts: " + ", ".join(f"{label}: {n}" for label, n in counts.items()) + ".")
    boxed = [h for h in hints if h.bbox is not None]
    limit = min(spec.max_boxes or MAX_PROMPT_BOXES, MAX_PROMPT_BOXES)
    used_boxes = 0
    if boxed and spec.include_coords:
        shown = boxed[:limit]
        used_boxes = len(shown)
        unit = "on a 0-1000 grid" if bbox_space(frame.family) == "grid_1000" else "in pixels of the image you see"
        lines = "\n".join(_hint_line(h, frame, hint_scale) for h in shown)
        parts.append(f"Known objects, boxes [x1, y1, x2, y2] {unit}:\n{lines}")
    if hints and spec.restrict_to_labels:
        parts.append("Only mention objects of these kinds: " + ", ".join(counts) + ".")
    if spec.glossary.strip():
        parts.append("Label glossary:\n" + spec.glossary.strip()[:4000])
    if spec.final_answer_only:
        parts.append("Answer with the caption only.")
    return "\n".join(parts), counts, used_boxes


def _inside(hint: LabelHint, frame: Frame, scale: tuple[float, float]) -> bool:
    assert hint.bbox is not None
    cx = (hint.bbox[0] + hint.bbox[2]) / 2 * scale[0]
    cy = (hint.bbox[1] + hint.bbox[3]) / 2 * scale[1]
    ox, oy = frame.origin
    return ox <= cx < ox + frame.size[0] and oy <= cy < oy + frame.size[1]


def clean_caption(text: str, *, max_sentences: int, final_answer_only: bool) -> CleanCaption:
    """Strip reasoning, drop repeated sentences (generation loops) and keep at most `max_sentences`."""
    result = CleanCaption(text.strip())
    if final_answer_only and ("<think>" in text or "</think>" in text):
        from tator.qwen.parse import strip_thinking

        result.text = strip_thinking(text).strip()
        result.events.append("thinking_removed")
    if _SPECIAL_TOKEN.search(result.text):
        result.text = _SPECIAL_TOKEN.sub("", result.text).strip()
        result.events.append("special_tokens_removed")
    sentences = [s.strip() for s in _SENTENCE.split(result.text) if s.strip()]
    unique = list(dict.fromkeys(sentences))
    if len(unique) < len(sentences):
        result.events.append(f"repetition_removed:{len(sentences) - len(unique)}")
    if max_sentences > 0 and len(unique) > max_sentences:
        unique = unique[:max_sentences]
        result.truncated = True
        result.events.append("sentence_limit")
    result.text = " ".join(unique)
    return result

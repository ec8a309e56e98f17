"""Prompt rendering, caption prompts with label hints, caption clean-up and the generation table."""

from __future__ import annotations

import threading

import pytest

from tator.errors import PromptOrItemsRequired, QwenLabelHintInvalid, QwenTemplateInvalid
from tator.qwen.caption_prompt import CaptionSpec, LabelHint, caption_prompt, check_hints, clean_caption
from tator.qwen.coords import Frame
from tator.qwen.infer import InferQuery, render_prompt
from tator.qwen.runtime import QwenRuntime
from tator.qwen.settings import QwenSettings


def test_render_prompt_items_template_and_refusals() -> None:
    settings = QwenSettings(
        bbox_template="{items}|{image_type}|{extra_context}", point_template="P {items}{image_type}{extra_context}"
    )
    query = InferQuery(item_list="cat,\n dog,, ", image_type="drone photo", extra_context=" At night. ")
    assert render_prompt(query, settings) == "cat, dog|drone photo|At night."
    assert render_prompt(InferQuery(item_list=["a", "b"], prompt_type="point"), settings) == "P a, bimage"
    assert render_prompt(InferQuery(prompt=" free text "), settings) == "free text"
    braces = InferQuery(item_list=["{extra_context}"], extra_context="x")  # replacement is not re-expanded
    assert render_prompt(braces, settings) == "{extra_context}|image|x"
    with pytest.raises(PromptOrItemsRequired):
        render_prompt(InferQuery(prompt="  ", item_list=[]), settings)
    with pytest.raises(QwenTemplateInvalid):
        render_prompt(InferQuery(item_list="a", template="{items} {image_type}"), settings)


def test_hints_are_checked_and_written_in_the_model_convention() -> None:
    with pytest.raises(QwenLabelHintInvalid):
        check_hints([("cat", [0.0, 0.0, float("nan"), 1.0])])
    with pytest.raises(QwenLabelHintInvalid):
        check_hints([("", None)])
    hints = check_hints([("cat", [10, 20, 110, 220]), ("cat", [300, 300, 350, 350]), ("dog", None)])
    spec = CaptionSpec(hints=hints, max_sentences=3, max_boxes=1, glossary="cat: feline")
    qwen3 = Frame("qwen3_vl", (400, 400), (448, 448))
    prompt, counts, boxes = caption_prompt(spec, qwen3, (1.0, 1.0), sentences=3)
    assert counts == {"cat": 2, "dog": 1} and boxes == 1
    assert "cat: [25, 50, 275, 550]" in prompt and "0-1000 grid" in prompt and "cat: [750" not in prompt
    assert "at most 3 sentences" in prompt and "Only mention objects of these kinds: cat, dog." in prompt
    qwen25 = Frame("qwen2_5_vl", (400, 400), (200, 200))
    prompt25, _, _ = caption_prompt(CaptionSpec(hints=hints[:1]), qwen25, (0.5, 0.5), sentences=1)
    assert "cat: [2, 5, 28, 55]" in prompt25 and "pixels of the image you see" in prompt25
    window = Frame("qwen3_vl", (100, 100), (112, 112), origin=(300, 300))
    windowed, counts_w, _ = caption_prompt(CaptionSpec(hints=hints), window, (1.0, 1.0), sentences=2)
    assert counts_w == {"cat": 1, "dog": 1} and "cat: [0, 0, 500, 500]" in windowed
    bare, _, _ = caption_prompt(
        CaptionSpec(hints=(LabelHint("cat"),), include_counts=False), qwen3, (1, 1), sentences=2
    )
    assert "Object counts" not in bare and "Known objects" not in bare


def test_clean_caption() -> None:
    looped = clean_caption(
        "<think>hmm</think>A cat. A cat. A dog!  A cat. A bird?", max_sentences=2, final_answer_only=True
    )
    assert looped.text == "A cat. A dog!" and looped.truncated
    assert looped.events == ["thinking_removed", "repetition_removed:2", "sentence_limit"]
    kept = clean_caption("<think>x</think>One.", max_sentences=0, final_answer_only=False)
    assert kept.text == "<think>x</think>One." and not kept.truncated
    tokens = clean_caption("A cat<|im_start|>.", max_sentences=5, final_answer_only=True)
    assert tokens.text == "A cat." and tokens.events == ["special_tokens_removed"]


def test_runtime_groups_cancel_and_progress() -> None:
    runtime = QwenRuntime()
    with runtime.group() as group:
        with runtime.track("caption_window", max_new_tokens=10, timeout_s=60, group=group) as gen:
            gen.tokens = 4
            assert runtime.progress()["tokens"] == 4 and runtime.progress()["running"]
            assert runtime.cancel(ops=("infer",)) == []
            stopped = runtime.cancel(ops=("caption",))
            assert [s["tokens"] for s in stopped] == [4] and gen.should_stop
        assert runtime.group_cancelled(group)  # the next step of the same caption will not start
        with runtime.track("caption_merge", max_new_tokens=10, timeout_s=60, group=group) as merge:
            assert merge.should_stop
    assert not runtime.group_cancelled(group)
    with runtime.track("infer", max_new_tokens=5, timeout_s=0.0) as late:
        assert late.should_stop and not late.cancel.is_set()  # the deadline alone stops it
    assert runtime.progress()["last"]["op"] == "infer" and not runtime.progress()["running"]
    assert isinstance(threading.Event(), type(late.cancel))

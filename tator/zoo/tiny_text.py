"""Tokenizers for the tiny zoo, trained locally on a small corpus (nothing is fetched)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tator.zoo.tiny_libs import transformers_module

CORPUS: tuple[str, ...] = (
    "a photo of a red square, a green circle and a blue triangle",
    "red square. green circle. blue triangle. yellow diamond. magenta hexagon. cyan cross.",
    "Describe the image. Find every object and return its bounding box as JSON.",
    "user assistant system: what is in this picture? There is one object on a noisy grey background.",
    'The answer is [{"bbox_2d": [10, 20, 300, 400], "label": "red_square"}] with 0 1 2 3 4 5 6 7 8 9.',
    "car person dog cat truck bus boat bird tree house window door road sign light",
)

QWEN_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# ChatML, the layout the Qwen VL processors expect: an image becomes a vision-start/pad/end triple, and the
# processor expands the pad to one token per merged patch.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _corpus(repeat: int = 8) -> list[str]:
    return [line for _ in range(repeat) for line in CORPUS]


def clip_tokenizer(vocab_size: int = 300) -> Any:
    """A `CLIPTokenizer` (byte-level BPE) trained on the corpus."""
    tf = transformers_module()
    return tf.CLIPTokenizer().train_new_from_iterator(_corpus(), vocab_size=vocab_size)


def qwen_tokenizer(vocab_size: int = 400, special: Sequence[str] = QWEN_SPECIAL_TOKENS) -> Any:
    """A `Qwen2Tokenizer` trained on the corpus, with the ChatML and vision special tokens and the template."""
    tf = transformers_module()
    tokenizer = tf.Qwen2Tokenizer().train_new_from_iterator(_corpus(), vocab_size=vocab_size)
    tokenizer.add_special_tokens({"additional_special_tokens": list(special)})
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer

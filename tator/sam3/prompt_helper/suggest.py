"""Candidate text prompts per class from the label itself, the dataset's glossary and simple rules.

Rules: the readable label (`red_square` -> `red square`, camelCase split), singular/plural forms and the
head noun of a multi-word label. Every list is de-duplicated case-insensitively, first spelling kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from tator.datasets.glossary import parse_glossary, terms_for_labels
from tator.datasets.service import get_glossary
from tator.errors import RecipeClassNotFound
from tator.sam3.datasets import dataset_ref, read_annotations
from tator.storage.layout import Layout

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def dedupe(prompts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for prompt in prompts:
        text = " ".join(prompt.split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            kept.append(text)
    return kept


def readable(label: str) -> str:
    return " ".join(_CAMEL.sub(" ", label).replace("_", " ").replace("-", " ").split()).lower()


def _number_forms(word: str) -> list[str]:
    if word.endswith("ies") and len(word) > 4:
        return [word[:-3] + "y"]
    if word.endswith(("ses", "xes", "ches", "shes")):
        return [word[:-2]]
    if word.endswith("s") and not word.endswith("ss"):
        return [word[:-1]]
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        return [word[:-1] + "ies"]
    if word.endswith(("s", "x", "ch", "sh")):
        return [word + "es"]
    return [word + "s"]


def rule_variants(prompt: str) -> list[str]:
    """Readable form, plural/singular of the last word, and the head noun of a multi-word prompt."""
    text = readable(prompt)
    words = text.split()
    if not words:
        return []
    variants = [text, *(" ".join([*words[:-1], form]) for form in _number_forms(words[-1]))]
    if len(words) > 1:
        variants.append(words[-1])
    return dedupe(variants)


def candidates(label: str, synonyms: Sequence[str], *, limit: int) -> list[str]:
    """The label's readable form first, then glossary synonyms, then rule variants, at most `limit` + 1."""
    base = readable(label) or label
    extra = [s for s in dedupe([*synonyms, *rule_variants(label)]) if s.lower() != base.lower()]
    return dedupe([base, *extra])[: limit + 1]


def class_synonyms(layout: Layout, dataset_id: str) -> tuple[list[str], dict[str, list[str]]]:
    """The dataset's classes and each class's glossary synonyms."""
    classes = list(read_annotations(dataset_ref(layout, dataset_id)).classes)
    glossary = parse_glossary(get_glossary(layout, dataset_id)["glossary"])
    return classes, terms_for_labels(glossary, classes)


def suggest(layout: Layout, dataset_id: str, *, max_synonyms: int, use_qwen: bool) -> dict[str, Any]:
    """Per-class prompt suggestions (Qwen is not consulted here: labels, glossary and rules only)."""
    classes, synonyms = class_synonyms(layout, dataset_id)
    return {
        "dataset_id": dataset_id,
        "classes": [
            {"class_id": i, "class_name": name, "prompts": candidates(name, synonyms[name], limit=max_synonyms),
             "glossary_terms": synonyms[name]}
            for i, name in enumerate(classes)
        ],
        "use_qwen": use_qwen,
        "qwen_used": False,
        "sources": ["label", "glossary", "rules"],
    }  # fmt: skip


def expand(
    layout: Layout, dataset_id: str, *, class_id: int, base_prompts: Sequence[str], max_new: int
) -> dict[str, Any]:
    """New prompts for one class from its label, glossary and the rules applied to each base prompt."""
    classes, synonyms = class_synonyms(layout, dataset_id)
    if not 0 <= class_id < len(classes):
        raise RecipeClassNotFound(f"dataset {dataset_id} has no class {class_id}", class_id=class_id)
    name = classes[class_id]
    base = dedupe(base_prompts)
    known = {p.lower() for p in base}
    pool = [readable(name), *synonyms[name], *rule_variants(name), *(v for p in base for v in rule_variants(p))]
    new = [p for p in dedupe(pool) if p.lower() not in known][:max_new]
    return {"class_id": class_id, "class_name": name, "base_prompts": base, "new_prompts": new,
            "combined": dedupe([*base, *new])}  # fmt: skip

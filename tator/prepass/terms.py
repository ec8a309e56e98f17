"""SAM3 text-prompt vocabulary per class: the label itself, then its glossary terms within a synonym budget.

Terms are cleaned (quotes, filler prefixes and articles stripped by the glossary's own cleaner) and dropped
when they are longer than 40 characters or look like markup (brackets, `:`, `->`); duplicates are removed
case-insensitively, first spelling kept. Each term records where it came from: `label` or `glossary`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, Field

from tator.datasets.glossary import clean_term, parse_glossary, terms_for_labels
from tator.sam3.prompt_helper.suggest import readable

MAX_TERM_CHARS = 40
_MARKUP = ("(", ")", "[", "]", "{", "}", "<", ">", ":", "->")


class PromptTerm(BaseModel):
    """One SAM3 text prompt for a class."""

    class_id: int = Field(description="Dataset class id.")
    term: str = Field(description="The prompt text.")
    origin: str = Field(description="label | glossary.")


def usable(term: str) -> str | None:
    """The cleaned term, or None when it is empty, too long or looks like markup."""
    text = " ".join(clean_term(term).split())
    if not text or len(text) > MAX_TERM_CHARS or any(mark in text for mark in _MARKUP):
        return None
    return text


def class_terms(
    labelmap: Sequence[str], glossary: Mapping[str, Sequence[str]], *, budget: int
) -> dict[int, list[PromptTerm]]:
    """Prompts per class id: readable label, raw label, then up to `budget` glossary terms."""
    plan: dict[int, list[PromptTerm]] = {}
    for class_id, label in enumerate(labelmap):
        seen: set[str] = set()
        terms: list[PromptTerm] = []
        extra = [t for t in (usable(g) for g in glossary.get(label, ())) if t][:budget]
        candidates = [(readable(label), "label"), (label, "label"), *((t, "glossary") for t in extra)]
        for raw, origin in candidates:
            text = usable(raw) if origin == "label" else raw
            if text and text.lower() not in seen:
                seen.add(text.lower())
                terms.append(PromptTerm(class_id=class_id, term=text, origin=origin))
        plan[class_id] = terms
    return plan


def glossary_terms(glossary_text: str, labelmap: Sequence[str]) -> dict[str, list[str]]:
    """A glossary text (any accepted form) as class name -> its terms."""
    return terms_for_labels(parse_glossary(glossary_text), labelmap)

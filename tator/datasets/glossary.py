"""Glossaries: free text mapping class labels to synonyms, in every form the reference accepts.

Accepted forms (first that applies wins):
1. a JSON object `{"car": ["sedan", "hatchback"], "person": "pedestrian; walker"}`;
2. a JSON list `[{"label"|"class"|"name": "car", "synonyms"|"terms"|"values"|"list": [...] | "a, b"}]`;
3. lines `car: sedan, hatchback`, `car -> sedan; coupe`, `car = ...`, `car - ...` or `car (sedan, coupe)`,
   optionally bulleted (`-`, `*`, `1.`).
Terms split on `,`, `;`, `/` and the words "and" / "or"; filler such as "e.g." or a leading article is
stripped. (The reference's two line regexes were double-escaped raw strings, so `car (a, b)` never parsed
and filler stripping silently failed; both work here.) Labels match through `labels.normalise_label`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tator.datasets.labels import normalise_label
from tator.errors import GlossaryTooLarge

MAX_GLOSSARY_CHARS = 1_000_000
Glossary = dict[str, list[str]]

_LABEL_KEYS = ("label", "class", "name")
_TERM_KEYS = ("synonyms", "terms", "values", "list")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")
_ARROW = re.compile(r"^(?P<label>[^:=]+?)\s*(?:->|=>|\u2192)\s*(?P<terms>.*)$")
_SEPARATED = re.compile(r"^(?P<label>[^:=]+?)\s*(?::|=|\s-\s)\s*(?P<terms>.*)$")
_PARENTHESISED = re.compile(r"^(?P<label>[^()]+?)\s*\((?P<terms>[^()]*)\)\s*[.;,]?$")
_TERM_SPLIT = re.compile(r"\s*(?:[,;/|]|\band\b|\bor\b)\s*", re.IGNORECASE)
_FILLER = re.compile(
    r"^(?:e\.?g\.?|i\.?e\.?|such\s+as|like|including|includes?|aka|a\.k\.a\.|also\s+known\s+as|"
    r"also\s+called|called|namely|or|and)[\s,:]+",
    re.IGNORECASE,
)
_ARTICLE = re.compile(r"^(?:a|an|the)\s+", re.IGNORECASE)
_TRAILING = re.compile(r"(?:[\s,;.]*\betc\b\.?)?[\s.,;:!?]*$", re.IGNORECASE)


def normalise_glossary(value: str | Mapping[str, Any] | Sequence[Any] | None) -> str:
    """The stored text of a glossary: JSON values are serialised, text gets LF line ends and is trimmed."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = "\n".join(line.rstrip() for line in value.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
        text = text.strip()
    else:
        text = json.dumps(value, ensure_ascii=False, indent=2)
    if len(text) > MAX_GLOSSARY_CHARS:
        raise GlossaryTooLarge(f"glossary is over {MAX_GLOSSARY_CHARS} characters", limit_chars=MAX_GLOSSARY_CHARS)
    return text


def clean_term(term: str) -> str:
    """One synonym without quotes, filler prefixes ("e.g.", "such as"), a leading article or a trailing etc."""
    text = term.strip().strip("\"'`\u201c\u201d\u2018\u2019").strip()
    for _ in range(3):
        stripped = _ARTICLE.sub("", _FILLER.sub("", text)).strip()
        if stripped == text:
            break
        text = stripped
    return _TRAILING.sub("", text).strip().strip("\"'`").strip()


def split_terms(value: Any) -> list[str]:
    """Terms of a value that is a string ("a, b; c") or a list of strings/strings-with-separators."""
    if isinstance(value, str):
        pieces = _TERM_SPLIT.split(value)
    elif isinstance(value, Sequence):
        pieces = [piece for item in value if isinstance(item, str) for piece in _TERM_SPLIT.split(item)]
    else:
        return []
    return _dedupe(clean_term(piece) for piece in pieces)


def _dedupe(terms: Any) -> list[str]:
    seen: set[str] = set()
    kept: list[str] = []
    for term in terms:
        key = term.casefold()
        if term and key not in seen:
            seen.add(key)
            kept.append(term)
    return kept


def _add(result: Glossary, label: str, terms: list[str]) -> None:
    label = clean_term(label)
    if label:
        result[label] = _dedupe([*result.get(label, []), *terms])


def _from_json(value: Any) -> Glossary | None:
    result: Glossary = {}
    if isinstance(value, dict):
        for label, terms in value.items():
            _add(result, str(label), split_terms(terms))
        return result
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        for item in value:
            label = next((item[k] for k in _LABEL_KEYS if isinstance(item.get(k), str)), None)
            terms = next((item[k] for k in _TERM_KEYS if k in item), [])
            if label is not None:
                _add(result, label, split_terms(terms))
        return result
    return None


def _parse_line(line: str) -> tuple[str, list[str]] | None:
    line = _BULLET.sub("", line).strip()
    if not line or line.startswith("#"):
        return None
    for pattern in (_ARROW, _SEPARATED, _PARENTHESISED):
        match = pattern.match(line)
        if match:
            return match.group("label"), split_terms(match.group("terms"))
    return None


def parse_glossary(text: str) -> Glossary:
    """Label -> synonyms for any accepted form; unparseable lines are skipped (free text is allowed)."""
    text = text.strip()
    if not text:
        return {}
    if text[0] in "[{":
        try:
            parsed = _from_json(json.loads(text))
        except (json.JSONDecodeError, RecursionError):
            parsed = None
        if parsed is not None:
            return parsed
    result: Glossary = {}
    for line in text.splitlines():
        entry = _parse_line(line)
        if entry is not None:
            _add(result, *entry)
    return result


def terms_for_labels(glossary: Glossary, labelmap: Sequence[str]) -> dict[str, list[str]]:
    """For each class of `labelmap`, the glossary's synonyms (matched normalised); classes without any get []."""
    by_key: dict[str, list[str]] = {}
    for label, terms in glossary.items():
        by_key.setdefault(normalise_label(label), []).extend(terms)
    return {name: _dedupe(by_key.get(normalise_label(name), [])) for name in labelmap}

"""Class names: the one normalised form labels are compared in, and labelmap files (one name per line)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from pathlib import Path

from tator.errors import LabelmapInvalid

LABELMAP_NAMES: tuple[str, ...] = ("labelmap.txt", "classes.txt", "labels.txt")
MAX_CLASSES = 100_000
MAX_CLASS_NAME_CHARS = 256
_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def normalise_label(name: str) -> str:
    """The comparison key of a class name: NFKC, case-folded, every non-alphanumeric run removed.

    `"Red Car"`, `"red_car"` and `"red-car!"` all become `"redcar"`. This is the only place labels are
    normalised; glossaries, labelmap checks and conversions all match through it.
    """
    return _NON_ALNUM.sub("", unicodedata.normalize("NFKC", name).casefold())


def labels_match(a: Sequence[str], b: Sequence[str]) -> bool:
    """True when two labelmaps name the same classes in the same order (compared normalised)."""
    return len(a) == len(b) and all(normalise_label(x) == normalise_label(y) for x, y in zip(a, b, strict=True))


def index_by_label(labelmap: Iterable[str]) -> dict[str, int]:
    """Normalised name -> class id (the first class wins when two names normalise alike)."""
    index: dict[str, int] = {}
    for class_id, name in enumerate(labelmap):
        index.setdefault(normalise_label(name), class_id)
    return index


def parse_labelmap_text(text: str, *, what: str = "labelmap") -> list[str]:
    """Class names from labelmap text: one per line, blank lines and surrounding spaces ignored."""
    if "\x00" in text:
        raise LabelmapInvalid(f"{what} contains NUL characters")
    names = [line.strip() for line in text.lstrip("\ufeff").splitlines()]
    names = [name for name in names if name]
    if len(names) > MAX_CLASSES:
        raise LabelmapInvalid(f"{what} has more than {MAX_CLASSES} classes")
    long = next((name for name in names if len(name) > MAX_CLASS_NAME_CHARS), None)
    if long is not None:
        raise LabelmapInvalid(f"{what} has a class name over {MAX_CLASS_NAME_CHARS} characters")
    return names


def read_labelmap(path: Path) -> list[str]:
    """Class names of a labelmap file (UTF-8); a file that is not text raises LabelmapInvalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise LabelmapInvalid(f"{path.name} is not UTF-8 text", path=path.name) from exc
    return parse_labelmap_text(text, what=path.name)


def labelmap_text(names: Sequence[str]) -> str:
    """Labelmap file content for `names` (one per line, trailing newline)."""
    return "".join(f"{name}\n" for name in names)

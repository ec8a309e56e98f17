"""Image validation for uploads and checks: every image must decode fully and stay under the pixel limit.

Decoding is bounded twice: the pixel count is read from the header before any pixel is decoded, and a
shared `DecodeBudget` caps how many decoded bytes the validating threads hold at once.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from PIL import Image, UnidentifiedImageError

from tator.errors import DatasetImageInvalid, DatasetImageTooLarge
from tator.runtime.budget import WeightedBudget
from tator.runtime.images import open_image

DRAFT_ABOVE_PIXELS = 16_000_000  # big JPEGs decode at 1/8 scale: every byte is still entropy-decoded


class DecodeBudget(WeightedBudget):
    """Decoded bytes the validating threads hold at once; one oversized image may still run, alone."""


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    format: str


def _decode(source: IO[bytes], name: str, max_pixels: int, budget: DecodeBudget | None) -> ImageInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with open_image(source) as image:
            width, height = image.size
            if width <= 0 or height <= 0:
                raise DatasetImageInvalid(f"{name}: image has no pixels", path=name)
            if width * height > max_pixels:
                raise DatasetImageTooLarge(
                    f"{name} is {width}x{height}, over the limit of {max_pixels} pixels",
                    path=name, width=width, height=height, limit_pixels=max_pixels,
                )  # fmt: skip
            fmt = image.format or "unknown"
            if fmt == "JPEG" and width * height > DRAFT_ABOVE_PIXELS:
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            cost = image.size[0] * image.size[1] * max(1, len(image.getbands()))
            held = budget.acquire(cost) if budget else 0
            try:
                image.load()
            finally:
                if budget:
                    budget.release(held)
    return ImageInfo(int(width), int(height), fmt)


def validate_image(
    source: bytes | Path, name: str, *, max_pixels: int, budget: DecodeBudget | None = None
) -> ImageInfo:
    """Decode an image completely (from bytes or a file); raise DatasetImageInvalid / DatasetImageTooLarge."""
    try:
        if isinstance(source, bytes):
            return _decode(io.BytesIO(source), name, max_pixels, budget)
        with open(source, "rb") as handle:
            return _decode(handle, name, max_pixels, budget)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetImageTooLarge(f"{name} is too large to decode safely", path=name) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        raise DatasetImageInvalid(f"{name} does not decode: {type(exc).__name__}: {exc}", path=name) from exc


def probe_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the header only, or None when the file is not a readable image."""
    try:
        with open_image(path) as image:
            return int(image.size[0]), int(image.size[1])
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None

"""Image input shared by every inference route: base64 or a token, decoded once, cached by content.

Images are never resized here: every pixel coordinate a client sends or receives refers to the image
exactly as uploaded. An image over the pixel limit is refused (413), not silently downscaled.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import io
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from tator.errors import (
    DecodeBusy,
    ImageBase64TooLarge,
    ImageBytesTooLarge,
    ImagePayloadMissing,
    ImagePixelsTooLarge,
    ImageTokenNotFound,
    InvalidBase64,
    InvalidImage,
)
from tator.runtime import heap
from tator.runtime.budget import PixelBudget

BAND_PIXELS = 4_000_000  # pixels converted per band while filling the output array
TRIM_ABOVE_PIXELS = 16_000_000  # decodes this big leave freed blocks worth handing back to the OS


class ImagePayload(BaseModel):
    """The image fields of a request: `image_base64` (raw or data URL) and/or `image_token`."""

    image_base64: str | None = Field(
        default=None,
        description=(
            "The image: base64 of the encoded file (JPEG, PNG, WebP ...) or a data URL. Never resized: "
            "every pixel coordinate in the request and the answer refers to this image as sent."
        ),
    )
    image_token: str | None = Field(
        default=None,
        description=(
            "Token of an image this server decoded recently (returned as image_token by an earlier call);"
            " send it instead of image_base64 to skip the upload. Tokens live in an in-memory cache "
            "(bounded by entries and bytes, emptied on restart): on 404 image_token_not_found send "
            "image_base64 again."
        ),
    )


@dataclass(frozen=True)
class DecodedImage:
    token: str
    pixels: np.ndarray  # H x W x 3, uint8, RGB; read-only

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    def to_pil(self) -> Image.Image:
        return Image.fromarray(self.pixels, mode="RGB")


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    budget: PixelBudget | None = None  # pixels decoded at once, shared by every request


def _strip_data_url(text: str) -> str:
    if text.startswith("data:"):
        _, _, text = text.partition(",")
    return text.strip()


_heif_lock = threading.Lock()


@functools.cache
def register_heif() -> bool:
    """Teach Pillow HEIC/HEIF (phone camera photos) through pi-heif, once per process (Pillow's plugin
    registry is process-wide); False when the plugin is not installed. Done on the first image Pillow cannot
    identify: importing it costs ~0.5 s."""
    with _heif_lock:
        try:
            from pi_heif import register_heif_opener
        except ImportError:
            return False
        register_heif_opener()
    return True


def _open(source: IO[bytes] | Path) -> Image.Image:
    # Importing ultralytics replaces `Image.open` with a wrapper that, on the first unidentified file,
    # tries to pip-install a HEIF plugin; offline that surfaces as ImportError. Here it stays what it is.
    try:
        return Image.open(source)
    except ImportError as exc:
        raise UnidentifiedImageError("cannot identify image file") from exc


def open_image(source: IO[bytes] | Path) -> Image.Image:
    """The one image opener: `PIL.Image.open`, plus HEIC/HEIF, and free of ultralytics' patch quirk."""
    try:
        return _open(source)
    except UnidentifiedImageError:
        if not register_heif():
            raise
    if not isinstance(source, Path):
        source.seek(0)
    return _open(source)


def decode_base64_image(text: str, limits: ImageLimits) -> np.ndarray:
    """Decode base64 (or a data URL) into RGB pixels, enforcing byte and pixel limits."""
    payload = _strip_data_url(text)
    if not payload:
        raise ImagePayloadMissing("image_base64 is empty")
    if len(payload) * 3 // 4 > limits.max_bytes:
        raise ImageBase64TooLarge(f"image exceeds {limits.max_bytes} bytes", limit_bytes=limits.max_bytes)
    try:
        raw = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64(f"image_base64 is not valid base64: {exc}") from exc
    return decode_image_bytes(raw, limits)


def decode_image_bytes(raw: bytes, limits: ImageLimits) -> np.ndarray:
    """Decode encoded image bytes into RGB pixels; the pixel count is checked before decoding, and the
    decode itself runs under the shared pixel budget (503 `decode_busy` when it cannot start in time)."""
    if len(raw) > limits.max_bytes:
        raise ImageBytesTooLarge(f"image exceeds {limits.max_bytes} bytes", limit_bytes=limits.max_bytes)
    decoded = 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(io.BytesIO(raw)) as image:
                width, height = image.size
                if width * height > limits.max_pixels:
                    raise ImagePixelsTooLarge(
                        f"image is {width}x{height}, over the limit of {limits.max_pixels} pixels",
                        width=width,
                        height=height,
                        limit_pixels=limits.max_pixels,
                    )
                with limits.budget.reserve(width * height) if limits.budget else contextlib.nullcontext():
                    decoded = width * height
                    image.load()
                    pixels = _rgb_array(image)
    except (ImagePixelsTooLarge, DecodeBusy):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImagePixelsTooLarge(f"image is too large to decode safely: {exc}") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(
            f"image could not be decoded ({_reason(exc)}); send a JPEG, PNG, WebP, BMP, TIFF or GIF file, base64 "
            "encoded"
        ) from exc
    finally:
        if decoded >= TRIM_ABOVE_PIXELS:
            heap.trim()
    return pixels


def _rgb_array(image: Image.Image) -> np.ndarray:
    """The decoded image as one H x W x 3 uint8 array, filled band by band: the only full-size copy is the
    array the model reads (no whole-image `convert` copy, no whole-image `tobytes` copy)."""
    width, height = image.size
    out = np.empty((height, width, 3), dtype=np.uint8)
    rows = max(1, BAND_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(height, top + rows)))
        out[top : top + band.height] = np.asarray(band if band.mode == "RGB" else band.convert("RGB"))
    out.setflags(write=False)
    return out


def _reason(exc: BaseException) -> str:
    """A decode failure in the client's terms (no library or exception class names)."""
    if isinstance(exc, UnidentifiedImageError):
        return "not a recognised image format"
    if isinstance(exc, EOFError | SyntaxError) or "truncated" in str(exc):
        return "the file is truncated or corrupt"
    return "the file is corrupt or in an unsupported format"


def image_token(pixels: np.ndarray) -> str:
    """Content hash of the decoded pixels (and shape): the same picture always gets the same token."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr(pixels.shape).encode())
    digest.update(np.ascontiguousarray(pixels).data)
    return digest.hexdigest()


class ImageCache:
    """Byte-bounded LRU of decoded images, keyed by token. Thread-safe."""

    def __init__(self, *, max_bytes: int, max_entries: int, limits: ImageLimits) -> None:
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self.limits = limits
        self._lock = threading.Lock()
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0

    def put(self, pixels: np.ndarray) -> DecodedImage:
        token = image_token(pixels)
        with self._lock:
            if token in self._items:
                pixels = self._items[token]  # the same picture decoded again: keep one copy, drop this one
            else:
                self._items[token] = pixels
                self._bytes += pixels.nbytes
            self._items.move_to_end(token)
            while self._items and (self._bytes > self._max_bytes or len(self._items) > self._max_entries):
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes
        return DecodedImage(token=token, pixels=pixels)

    def get(self, token: str) -> DecodedImage:
        with self._lock:
            pixels = self._items.get(token)
            if pixels is None:
                raise ImageTokenNotFound("image_token is unknown or expired; send image_base64", token=token[:64])
            self._items.move_to_end(token)
        return DecodedImage(token=token, pixels=pixels)

    def resolve(self, payload: ImagePayload) -> DecodedImage:
        """The image a request names: its base64 when present (then cached), else its token."""
        if payload.image_base64:
            return self.put(decode_base64_image(payload.image_base64, self.limits))
        if payload.image_token:
            return self.get(payload.image_token)
        raise ImagePayloadMissing("send image_base64 or image_token")

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

from __future__ import annotations

import base64
import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
from tator.runtime import images as images_module
from tator.runtime.budget import PixelBudget
from tator.runtime.images import ImageCache, ImageLimits, ImagePayload, decode_image_bytes


def png_bytes(width: int, height: int, color: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def cache() -> ImageCache:
    return ImageCache(
        max_bytes=10_000_000, max_entries=8, limits=ImageLimits(max_bytes=5_000_000, max_pixels=4_000_000)
    )


def test_base64_then_token_returns_same_pixels(cache: ImageCache) -> None:
    first = cache.resolve(ImagePayload(image_base64=b64(png_bytes(40, 30))))
    assert (first.width, first.height) == (40, 30)
    again = cache.resolve(ImagePayload(image_token=first.token))
    assert again.token == first.token
    assert np.array_equal(again.pixels, first.pixels)


def test_data_url_and_same_content_same_token(cache: ImageCache) -> None:
    a = cache.resolve(ImagePayload(image_base64="data:image/png;base64," + b64(png_bytes(8, 8))))
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buffer, format="BMP")
    b = cache.resolve(ImagePayload(image_base64=b64(buffer.getvalue())))
    assert a.token == b.token  # the token hashes decoded pixels, not the file encoding


def test_large_image_is_not_downscaled(cache: ImageCache) -> None:
    image = cache.resolve(ImagePayload(image_base64=b64(png_bytes(5000, 400))))
    assert (image.width, image.height) == (5000, 400)


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (ImagePayload(), ImagePayloadMissing),
        (ImagePayload(image_base64="data:image/png;base64,"), ImagePayloadMissing),
        (ImagePayload(image_base64="!!!notbase64!!!"), InvalidBase64),
        (ImagePayload(image_base64=b64(b"not an image at all")), InvalidImage),
        (ImagePayload(image_base64=b64(png_bytes(20, 20)[:40])), InvalidImage),
        (ImagePayload(image_token="f" * 32), ImageTokenNotFound),
    ],
)
def test_bad_payloads_get_stable_errors(cache: ImageCache, payload: ImagePayload, error: type[Exception]) -> None:
    with pytest.raises(error):
        cache.resolve(payload)


def test_byte_and_pixel_limits() -> None:
    tight = ImageCache(max_bytes=10**8, max_entries=4, limits=ImageLimits(max_bytes=1000, max_pixels=100))
    with pytest.raises(ImageBase64TooLarge):
        tight.resolve(ImagePayload(image_base64="A" * 5000))
    with pytest.raises(ImageBytesTooLarge):
        decode_image_bytes(b"x" * 2000, tight.limits)
    with pytest.raises(ImagePixelsTooLarge):
        tight.resolve(ImagePayload(image_base64=b64(png_bytes(11, 10))))


def test_cache_is_byte_bounded_lru() -> None:
    one = 50 * 50 * 3
    cache = ImageCache(max_bytes=2 * one, max_entries=10, limits=ImageLimits(max_bytes=10**6, max_pixels=10**6))
    tokens = [cache.resolve(ImagePayload(image_base64=b64(png_bytes(50, 50, (i, 0, 0))))).token for i in range(3)]
    assert len(cache) == 2
    assert cache.nbytes == 2 * one
    with pytest.raises(ImageTokenNotFound):
        cache.get(tokens[0])
    cache.get(tokens[2])


def test_invalid_image_is_a_400_even_after_ultralytics_patched_pil(cache: ImageCache) -> None:
    import ultralytics  # noqa: F401  (its import replaces PIL.Image.open with a HEIF-installing wrapper)

    with pytest.raises(InvalidImage):
        cache.resolve(ImagePayload(image_base64=b64(b"definitely not an image")))


def test_dataset_image_check_survives_the_ultralytics_pil_patch(tmp_path: Path) -> None:
    import ultralytics  # noqa: F401

    from tator.datasets.imagecheck import probe_size, validate_image
    from tator.errors import DatasetImageInvalid

    with pytest.raises(DatasetImageInvalid):
        validate_image(b"plain text, not pixels", "fake.png", max_pixels=10_000)
    assert validate_image(png_bytes(7, 5), "ok.png", max_pixels=10_000).width == 7
    (tmp_path / "fake.jpg").write_text("not an image")
    assert probe_size(tmp_path / "fake.jpg") is None


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "RGBA", "LA", "CMYK", "1"])
def test_band_wise_decode_equals_a_whole_image_convert(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_module, "BAND_PIXELS", 1000)  # many bands on a small image
    rgb = np.random.default_rng(1).integers(0, 255, (97, 61, 3), dtype=np.uint8)
    source = Image.fromarray(rgb).convert(mode)
    buffer = io.BytesIO()
    source.save(buffer, format="TIFF" if mode == "CMYK" else "PNG")
    pixels = decode_image_bytes(buffer.getvalue(), ImageLimits(max_bytes=10**7, max_pixels=10**6))
    assert pixels.shape == (97, 61, 3) and not pixels.flags.writeable
    assert np.array_equal(pixels, np.asarray(source.convert("RGB")))


def test_decodes_wait_for_the_pixel_budget_then_503() -> None:
    budget = PixelBudget(64 * 64, wait_s=0.05)
    limits = ImageLimits(max_bytes=10**7, max_pixels=10**6, budget=budget)
    held = budget.try_acquire(1, timeout=0)  # another request is decoding
    with pytest.raises(DecodeBusy) as busy:
        decode_image_bytes(png_bytes(64, 64), limits)
    assert busy.value.details["limit_pixels"] == 64 * 64
    budget.release(held or 0)
    assert decode_image_bytes(png_bytes(64, 64), limits).shape == (64, 64, 3)
    assert budget.used == 0


def test_concurrent_decodes_never_hold_more_than_the_budget() -> None:
    peak = 0

    class Recording(PixelBudget):
        def try_acquire(self, amount: int, timeout: float | None) -> int | None:
            nonlocal peak
            taken = super().try_acquire(amount, timeout)
            peak = max(peak, self.used)
            return taken

    limits = ImageLimits(max_bytes=10**7, max_pixels=10**6, budget=Recording(2 * 300 * 200, wait_s=30))
    data = png_bytes(300, 200)
    with ThreadPoolExecutor(max_workers=8) as pool:
        shapes = list(pool.map(lambda _: decode_image_bytes(data, limits).shape, range(16)))
    assert shapes == [(200, 300, 3)] * 16
    assert 0 < peak <= 2 * 300 * 200


def test_a_picture_decoded_twice_is_kept_once() -> None:
    cache = ImageCache(max_bytes=10**8, max_entries=8, limits=ImageLimits(max_bytes=10**7, max_pixels=10**6))
    first = cache.resolve(ImagePayload(image_base64=b64(png_bytes(40, 30))))
    second = cache.resolve(ImagePayload(image_base64=b64(png_bytes(40, 30))))
    assert second.pixels is first.pixels and cache.nbytes == first.pixels.nbytes


# A 64x48 HEIC (four solid quadrants) written by pillow-heif's x265 encoder: pi-heif, which the server
# uses, decodes HEIF but cannot encode it.
HEIC = Path(__file__).parent / "data" / "quadrants.heic"
QUADRANTS = {(12, 16): (220, 30, 30), (12, 48): (30, 200, 40), (36, 16): (30, 40, 210), (36, 48): (240, 240, 240)}


def assert_quadrants(pixels: np.ndarray) -> None:
    assert pixels.shape == (48, 64, 3)
    for (y, x), rgb in QUADRANTS.items():
        assert np.abs(pixels[y, x].astype(int) - rgb).max() <= 6, ((y, x), pixels[y, x])


def test_heic_photos_decode(cache: ImageCache) -> None:
    assert HEIC.read_bytes()[4:12] == b"ftypheic"
    limits = ImageLimits(max_bytes=5_000_000, max_pixels=4_000_000)
    assert_quadrants(decode_image_bytes(HEIC.read_bytes(), limits))
    decoded = cache.resolve(ImagePayload(image_base64="data:image/heic;base64," + b64(HEIC.read_bytes())))
    assert_quadrants(decoded.pixels)
    from tator.runtime.images import open_image

    with open_image(HEIC) as image:  # from a path too (dataset images)
        assert image.size == (64, 48)
    with pytest.raises(InvalidImage):  # still refused: bytes that are no image at all
        decode_image_bytes(b"ftypheic but not really", limits)

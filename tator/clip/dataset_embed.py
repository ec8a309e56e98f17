"""Embed every planned crop of a dataset, image by image, through the embedding cache, in batches.

Cache hits cost one read of the image bytes (for the key). Misses are cropped and queued; a full batch is
embedded in one forward pass, then each finished image's embeddings are written to the cache. The cancel
token is checked between batches.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tator.clip.cache import EmbeddingCache
from tator.clip.crops import ImageCrops
from tator.clip.embed import Encoder, EncoderInfo, crop_square, embed_batch, encoder_info
from tator.jobs.context import CancelToken
from tator.runtime.images import open_image

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (crops done, crops total)


@dataclass
class EmbeddedCrops:
    """One row per crop: embedding, class id (-1 background) and the index of its image (the split group)."""

    embeddings: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    seconds: float = 0.0


@dataclass
class _Pending:
    crops: list[Image.Image] = field(default_factory=list)
    owners: list[tuple[int, int]] = field(default_factory=list)  # (image index, row in that image)


def embed_plans(
    plans: Sequence[ImageCrops],
    handle: Encoder,
    cache: EmbeddingCache,
    *,
    padding: float,
    batch_size: int,
    cancel: CancelToken,
    progress: Progress | None = None,
) -> EmbeddedCrops:
    """Embeddings of every crop of `plans`, in plan order."""
    started = time.perf_counter()
    info = encoder_info(handle)
    results: list[np.ndarray | None] = [None] * len(plans)
    keys: list[str] = [""] * len(plans)
    remaining: dict[int, int] = {}
    pending = _Pending()
    total, done = sum(len(p.boxes) for p in plans), 0
    for index, plan in enumerate(plans):
        cancel.raise_if_cancelled()
        data = plan.path.read_bytes()
        keys[index] = cache.key(data, plan.boxes_array())
        cached = cache.get(keys[index], len(plan.boxes), info.dim)
        if cached is not None:
            results[index] = cached
            done += len(plan.boxes)
            continue
        results[index] = np.zeros((len(plan.boxes), info.dim), dtype=np.float32)
        remaining[index] = len(plan.boxes)
        with open_image(io.BytesIO(data)) as opened:
            image = opened.convert("RGB")
        for row, box in enumerate(plan.boxes):
            pending.crops.append(crop_square(image, box, size=info.image_size, padding=padding))
            pending.owners.append((index, row))
        while len(pending.crops) >= batch_size:
            done += _flush(pending, batch_size, handle, info, results, remaining, keys, cache)
            cancel.raise_if_cancelled()
            if progress is not None:
                progress(done, total)
    while pending.crops:
        done += _flush(pending, batch_size, handle, info, results, remaining, keys, cache)
        cancel.raise_if_cancelled()
    if progress is not None:
        progress(done, total)
    rows = [r for r in results if r is not None]
    return EmbeddedCrops(
        embeddings=np.concatenate(rows) if rows else np.zeros((0, info.dim), dtype=np.float32),
        labels=np.asarray([lab for p in plans for lab in p.labels], dtype=np.int64),
        groups=np.asarray([i for i, p in enumerate(plans) for _ in p.labels], dtype=np.int64),
        seconds=time.perf_counter() - started,
    )


def _flush(
    pending: _Pending,
    batch_size: int,
    handle: Encoder,
    info: EncoderInfo,
    results: list[np.ndarray | None],
    remaining: dict[int, int],
    keys: list[str],
    cache: EmbeddingCache,
) -> int:
    """Embed the first `batch_size` queued crops, file their rows, and cache finished images."""
    crops, owners = pending.crops[:batch_size], pending.owners[:batch_size]
    del pending.crops[:batch_size], pending.owners[:batch_size]
    vectors = embed_batch(handle, crops, info)
    for (index, row), vector in zip(owners, vectors, strict=True):
        target = results[index]
        assert target is not None
        target[row] = vector
        remaining[index] -= 1
        if remaining[index] == 0:
            cache.put(keys[index], target)
            del remaining[index]
    return len(crops)

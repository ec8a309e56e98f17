"""Dataset operations behind the routes: per-dataset glossary and text labels (captions). Writes hold the
dataset's shared lock, so a delete (which moves it to the trash) never races one into a ghost folder."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tator.datasets.catalog import DatasetRef, find_dataset
from tator.datasets.glossary import normalise_glossary
from tator.datasets.install import dataset_access
from tator.datasets.meta import CAPTIONS_DIR, DERIVED_DIR, load_json_file, write_meta
from tator.errors import CaptionNotFound, CaptionTooLarge, InvalidRelativePath, TatorError
from tator.storage.files import atomic_write_text
from tator.storage.layout import Layout
from tator.storage.locks import file_lock
from tator.storage.paths import check_relative

log = logging.getLogger(__name__)

MAX_CAPTION_CHARS = 64 * 1024
MAX_BATCH_NAMES = 10_000
_GLOSSARY_LOOKUP = ("sam3_dataset.json", "metadata.json", "dataset.json")


def _meta_lock(ref: DatasetRef) -> Path:
    return ref.path / DERIVED_DIR / ".meta.lock"


def _meta_files(ref: DatasetRef) -> tuple[str, ...]:
    # In the registry only dataset.json is ours: an uploaded metadata.json is source data, never rewritten
    # (its glossary was copied into dataset.json at upload). SAM3/Qwen datasets are built by this server.
    return ("dataset.json",) if ref.source == "registry" else _GLOSSARY_LOOKUP


def get_glossary(layout: Layout, dataset_id: str) -> dict[str, Any]:
    """The dataset's glossary text ("" when none): SAM3 metadata first, then Qwen, then dataset.json."""
    ref = find_dataset(layout, dataset_id)
    for name in _meta_files(ref):
        meta = load_json_file(ref.path / name)
        value = meta.get("labelmap_glossary") if meta else None
        if isinstance(value, str) and value.strip():
            return {"dataset_id": ref.id, "glossary": value}
    return {"dataset_id": ref.id, "glossary": ""}


def set_glossary(
    layout: Layout, dataset_id: str, value: str | Mapping[str, Any] | Sequence[Any] | None
) -> dict[str, Any]:
    """Store the normalised glossary in every metadata file present (dataset.json created if none)."""
    text = normalise_glossary(value)
    with dataset_access(layout, dataset_id) as ref, file_lock(_meta_lock(ref)):
        present = [ref.path / name for name in _meta_files(ref) if (ref.path / name).is_file()]
        for path in present or [ref.path / "dataset.json"]:
            meta = load_json_file(path) if path.exists() else {"id": ref.id}
            if meta is None:
                continue  # unreadable metadata is left alone rather than overwritten
            meta["labelmap_glossary"] = text
            write_meta(path, meta)
    log.info("dataset.glossary_saved id=%s chars=%d", ref.id, len(text))
    return {"dataset_id": ref.id, "glossary": text}


def _caption_path(ref: DatasetRef, image_name: str) -> Path:
    relative = check_relative(image_name)
    stem = PurePosixPath(relative.name).stem
    if not stem or len(stem.encode("utf-8")) > 250:
        raise InvalidRelativePath("image name must have a stem of 1-250 bytes")
    return ref.guard.relative(f"{CAPTIONS_DIR}/{stem}.txt")


def get_caption(layout: Layout, dataset_id: str, image_name: str) -> dict[str, str]:
    """The caption of one image (stored as `text_labels/<image stem>.txt`)."""
    path = _caption_path(find_dataset(layout, dataset_id), image_name)
    if not path.is_file():
        raise CaptionNotFound(f"no caption for {image_name[:200]!r}", image_name=image_name[:200])
    return {"caption": path.read_text(encoding="utf-8", errors="replace")}


def set_caption(layout: Layout, dataset_id: str, image_name: str, caption: str) -> dict[str, str]:
    """Save an image's caption (trimmed); an empty caption removes it."""
    if len(caption) > MAX_CAPTION_CHARS:
        raise CaptionTooLarge(f"caption is over {MAX_CAPTION_CHARS} characters", limit_chars=MAX_CAPTION_CHARS)
    text = caption.strip()
    with dataset_access(layout, dataset_id) as ref:
        path = _caption_path(ref, image_name)
        if text:
            atomic_write_text(path, text)
        else:
            path.unlink(missing_ok=True)
    return {"status": "saved", "caption": text}


def get_captions(layout: Layout, dataset_id: str, image_names: Sequence[str]) -> dict[str, Any]:
    """Captions of many images at once (null where none); bad names are reported, not fatal."""
    if len(image_names) > MAX_BATCH_NAMES:
        raise CaptionTooLarge(f"at most {MAX_BATCH_NAMES} image names per batch")
    ref = find_dataset(layout, dataset_id)
    captions: dict[str, str | None] = {}
    invalid: list[str] = []
    for name in image_names:
        try:
            path = _caption_path(ref, name)
        except (TatorError, ValueError):
            invalid.append(name[:200])
            continue
        captions[name] = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    return {"dataset_id": ref.id, "captions": captions, "invalid": invalid}

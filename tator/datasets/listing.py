"""`GET /datasets` entries: the reference's fields, computed from metadata and path checks only (no writes)."""

from __future__ import annotations

from typing import Any

from tator.datasets.catalog import DatasetRef, iter_datasets
from tator.datasets.meta import CAPTIONS_DIR, count_captions, glossary_preview
from tator.datasets.views import coco_files, qwen_files, yolo_view
from tator.storage.layout import Layout


def _int(meta: dict[str, Any], key: str) -> int:
    value = meta.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _yolo_fields(ref: DatasetRef, seg: bool) -> dict[str, Any]:
    view = yolo_view(ref)
    if view is None:
        return {"yolo_ready": False, "yolo_seg_ready": False, "yolo_images_dir": None, "yolo_labels_dir": None,
                "yolo_labelmap_path": None, "yolo_layout": None}  # fmt: skip
    images, labels = view.splits.get("train") or next(iter(view.splits.values()))
    return {
        "yolo_ready": True, "yolo_seg_ready": seg, "yolo_images_dir": str(images), "yolo_labels_dir": str(labels),
        "yolo_labelmap_path": str(view.labelmap), "yolo_layout": "flat" if view.flat else "split",
        "yolo_splits": {s: {"images": str(i), "labels": str(lab)} for s, (i, lab) in view.splits.items()},
    }  # fmt: skip


def dataset_entry(ref: DatasetRef) -> dict[str, Any]:
    """One listing entry; counts come from the metadata written when the dataset was created."""
    meta = ref.meta
    seg = meta.get("type") == "seg"
    qwen = qwen_files(ref)
    coco = coco_files(ref)
    yolo = _yolo_fields(ref, seg)
    images = _int(meta, "image_count")
    captions = count_captions(ref.path)
    value = meta.get("labelmap_glossary")
    glossary = value if isinstance(value, str) else ""
    fmt = meta.get("format") or ("yolo" if yolo["yolo_ready"] else "qwen" if qwen else "unknown")
    classes = meta.get("classes") if isinstance(meta.get("classes"), list) else []
    return {
        "id": ref.id,
        "label": meta.get("label") or ref.id,
        "dataset_root": str(ref.path),
        "registry_root": str(ref.root),
        "created_at": ref.created_at,
        "image_count": images,
        "train_count": _int(meta, "train_count"),
        "val_count": _int(meta, "val_count"),
        "test_count": _int(meta, "test_count"),
        "box_count": _int(meta, "box_count"),
        "classes": classes,
        "context": meta.get("context") or "",
        "signature": meta.get("signature"),
        "source": ref.source,
        "source_format": meta.get("source_format"),
        "type": "seg" if seg else "bbox",
        "format": fmt,
        **yolo,
        "qwen_ready": bool(qwen),
        "qwen_train_count": _int(meta, "train_count") if qwen else 0,
        "qwen_val_count": _int(meta, "val_count") if qwen else 0,
        "coco_ready": bool(coco),
        "coco_seg_ready": bool(coco) and seg,
        "coco_train_json": str(coco["train"]) if "train" in coco else None,
        "coco_val_json": str(coco["val"]) if "val" in coco else None,
        "caption_count": captions,
        "caption_dir": str(ref.path / CAPTIONS_DIR),
        "caption_total": images,
        "caption_percent": round(100.0 * captions / images, 1) if images else 0.0,
        "glossary_present": bool(glossary.strip()),
        "glossary_preview": glossary_preview(glossary),
        "storage_mode": "managed",
    }


def list_datasets(layout: Layout) -> list[dict[str, Any]]:
    """Every dataset of the three roots, newest first. A SAM3/Qwen copy whose signature matches an
    earlier entry is left out in favour of it (registry entries are always listed)."""
    seen: set[str] = set()
    entries: list[dict[str, Any]] = []
    for ref in iter_datasets(layout):
        sig = ref.meta.get("signature")
        if isinstance(sig, str) and sig:
            if sig in seen and ref.source != "registry":
                continue
            seen.add(sig)
        entries.append(dataset_entry(ref))
    entries.sort(key=lambda e: e["created_at"], reverse=True)
    return entries

"""Classifier head files under `uploads/classifiers`: resolve, list, zip, rename, delete, publish.

Listing reads only each head's `meta.json` (see `tator.clip.head`); no model file is ever unpickled.
Client paths are either relative to the classifiers folder or absolute paths inside it; anything else
is refused. Files are never overwritten: new names get `_1`, `_2` ... suffixes.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import logging
import os
import shutil
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from tator.clip.head import HEAD_EXTENSION, is_background, read_head_meta
from tator.clip.labelmaps import labelmap_guess
from tator.datasets.labels import labelmap_text
from tator.errors import (
    ClassifierExtensionNotAllowed,
    ClassifierLoadFailed,
    ClassifierNewNameInvalid,
    ClassifierNewNameRequired,
    ClassifierNotFound,
    ClassifierPathNotAllowed,
    ClassifierRenameConflict,
    ClassifierRequired,
    InvalidId,
    InvalidRelativePath,
    PathOutsideDataDir,
)
from tator.storage.paths import PathGuard, check_id

log = logging.getLogger(__name__)

MAX_LISTED = 2000
_SUMMARY_KEYS = (
    "clip_model", "encoder_type", "encoder_model", "solver", "classifier_type", "embedding_dim",
    "n_samples_train", "n_samples_test", "accuracy", "created_at", "converted_from",
)  # fmt: skip


def resolve_in_root(root: Path, value: str | None, *, what: str = "classifier_path") -> Path:
    """A client path (relative to `root`, or absolute inside it) resolved; ClassifierPathNotAllowed else."""
    if not value or not value.strip():
        raise ClassifierRequired(f"send {what}")
    candidate = Path(value.strip())
    guard = PathGuard(root)
    try:
        if candidate.is_absolute():
            return guard.ensure_inside(candidate)
        return guard.relative(value.strip())
    except (InvalidRelativePath, PathOutsideDataDir) as exc:
        raise ClassifierPathNotAllowed(f"{what} must name a file in the classifiers folder") from exc


def resolve_classifier(root: Path, value: str | None, *, what: str = "classifier_path") -> Path:
    """An existing head file (`.npz`) in the classifiers folder."""
    path = resolve_in_root(root, value, what=what)
    if path.suffix.lower() != HEAD_EXTENSION:
        raise ClassifierExtensionNotAllowed(f"classifier heads are {HEAD_EXTENSION} files", extension=path.suffix[:16])
    if not path.is_file():
        raise ClassifierNotFound(f"classifier {value!r} not found", rel_path=str(value)[:256])
    return path


def rel_path(root: Path, path: Path) -> str:
    return path.resolve().relative_to(root.resolve()).as_posix()


def classifier_entry(root: Path, path: Path, labelmaps: dict[str, list[str]]) -> dict[str, Any]:
    """The listing row of one head: file facts plus its metadata summary (or `error`)."""
    stat = path.stat()
    entry: dict[str, Any] = {
        "filename": path.name, "path": str(path), "rel_path": rel_path(root, path),
        "size_bytes": stat.st_size, "modified_at": stat.st_mtime,
    }  # fmt: skip
    try:
        meta = read_head_meta(path)
    except ClassifierLoadFailed as exc:
        return {**entry, "error": exc.message, "classes": []}
    classes = [str(c) for c in meta.get("classes", [])]
    labelmap = [str(c) for c in meta.get("labelmap") or [c for c in classes if not is_background(c)]]
    guess = labelmap_guess(path.stem, labelmap, labelmaps)
    entry.update({key: meta.get(key) for key in _SUMMARY_KEYS})
    entry.update({
        "classes": classes, "labelmap": labelmap, "background_classes": [c for c in classes if is_background(c)],
        "labelmap_guess": guess, "labelmap_guess_rel": PurePosixPath(guess).name if guess else None,
        "format": "npz",
    })  # fmt: skip
    return entry


def list_classifiers(root: Path, labelmaps: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Every head under the classifiers folder (hidden files skipped), newest first."""
    paths = [p for p in root.rglob(f"*{HEAD_EXTENSION}") if p.is_file() and not _hidden(root, p)]
    paths = sorted(paths, key=lambda p: p.stat().st_mtime, reverse=True)[:MAX_LISTED]
    return [classifier_entry(root, p, labelmaps) for p in paths]


def _hidden(root: Path, path: Path) -> bool:
    return path.is_symlink() or any(part.startswith(".") for part in path.relative_to(root).parts)


def classifier_zip(root: Path, path: Path) -> bytes:
    """A zip of the head, its labelmap (`<stem>.labelmap.txt`) and its metadata as readable JSON."""
    meta = read_head_meta(path)
    labelmap = [str(c) for c in meta.get("labelmap") or [c for c in meta.get("classes", []) if not is_background(c)]]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(path, path.name)
        zf.writestr(f"{path.stem}.labelmap.txt", labelmap_text(labelmap))
        zf.writestr(f"{path.stem}.meta.json", json.dumps(meta, indent=2, ensure_ascii=False))
    log.info("classifier.zipped rel_path=%s", rel_path(root, path))
    return buffer.getvalue()


def link_unique(src: Path, folder: Path, stem: str, suffix: str) -> Path:
    """Place `src` at `folder/stem+suffix` (or `stem_1`, `stem_2` ...) without ever overwriting."""
    folder.mkdir(parents=True, exist_ok=True)
    for counter in range(10_000):
        dest = folder / (f"{stem}{suffix}" if counter == 0 else f"{stem}_{counter}{suffix}")
        try:
            os.link(src, dest)
            return dest
        except FileExistsError:
            continue
        except OSError:  # a filesystem without hard links: copy, still without overwriting
            with contextlib.suppress(FileExistsError):
                with open(src, "rb") as reader, open(dest, "xb") as writer:
                    shutil.copyfileobj(reader, writer)
                return dest
    raise ClassifierRenameConflict(f"no free name for {stem}{suffix}")


def link_once(src: Path, folder: Path, stem: str, suffix: str) -> Path:
    """`link_unique`, except that a name already linked to `src` is reused: a completion step that runs
    again after a kill publishes nothing twice."""
    if folder.is_dir():
        for candidate in sorted(folder.glob(f"{glob.escape(stem)}*{suffix}")):
            with contextlib.suppress(OSError):
                if candidate.samefile(src):
                    return candidate
    return link_unique(src, folder, stem, suffix)


def clean_new_name(new_name: str | None) -> str:
    """The stem a rename may use: a safe file name, `.npz` or no extension."""
    name = PurePosixPath((new_name or "").strip()).name
    if not name:
        raise ClassifierNewNameRequired("send new_name")
    suffix = PurePosixPath(name).suffix.lower()
    if suffix and suffix != HEAD_EXTENSION and suffix in {".pkl", ".joblib", ".json", ".txt", ".safetensors"}:
        raise ClassifierExtensionNotAllowed(f"classifier heads are {HEAD_EXTENSION} files", extension=suffix)
    stem = name[: -len(HEAD_EXTENSION)] if suffix == HEAD_EXTENSION else name
    try:
        return check_id(stem, what="new_name")
    except InvalidId as exc:
        raise ClassifierNewNameInvalid("new_name must be 1-128 letters, digits, '.', '_' or '-'") from exc


def rename_classifier(root: Path, value: str, new_name: str | None) -> dict[str, Any]:
    """Rename a head in place (same folder); a taken name gets a numeric suffix."""
    path = resolve_classifier(root, value, what="rel_path")
    stem = clean_new_name(new_name)
    old = {"old_rel_path": rel_path(root, path), "old_path": str(path)}
    if stem == path.stem:
        return {"status": "unchanged", **old, "new_rel_path": old["old_rel_path"], "new_path": str(path),
                "new_name": path.name}  # fmt: skip
    dest = link_unique(path, path.parent, stem, HEAD_EXTENSION)
    path.unlink()
    log.info("classifier.renamed old=%s new=%s", old["old_rel_path"], dest.name)
    return {"status": "renamed", **old, "new_rel_path": rel_path(root, dest), "new_path": str(dest),
            "new_name": dest.name}  # fmt: skip


def delete_classifier(root: Path, value: str) -> dict[str, Any]:
    path = resolve_classifier(root, value, what="rel_path")
    relative = rel_path(root, path)
    path.unlink()
    log.info("classifier.deleted rel_path=%s", relative)
    return {"status": "deleted", "rel_path": relative}

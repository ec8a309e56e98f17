"""CLIP / DINOv3 classifier library routes: backbones, classifier heads and labelmaps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query
from fastapi.responses import FileResponse, Response

from tator.api.clip_deps import ClipPlacesDep
from tator.api.deps import LayoutDep, StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.clip import cache, labelmaps, library
from tator.clip.active import SLOT, delete_and_forget, rename_and_follow
from tator.clip.backbones import CLIP_BACKBONES, DEFAULT_CLIP, ENCODER_TYPES
from tator.clip.train_start import embedding_cache_root
from tator.errors import (
    ClassifierExtensionNotAllowed,
    ClassifierLoadFailed,
    ClassifierNewNameInvalid,
    ClassifierNewNameRequired,
    ClassifierNotFound,
    ClassifierPathNotAllowed,
    ClassifierRenameConflict,
    ClassifierRequired,
    LabelmapExtensionNotAllowed,
    LabelmapNotFound,
    LabelmapPathNotAllowed,
)

router = IndexedRouter(prefix="/clip", tags=["clip"])


_PATH_ERRORS = (ClassifierRequired, ClassifierPathNotAllowed, ClassifierExtensionNotAllowed, ClassifierNotFound)
_LABELMAP_ERRORS = responses(LabelmapNotFound, LabelmapPathNotAllowed, LabelmapExtensionNotAllowed)


@router.get("/backbones")
def backbones(state: StateDep) -> dict[str, Any]:
    """CLIP backbone names a head can be trained on, the active one, and the base model of each encoder."""
    selection = state.selections.get(SLOT)
    active = selection.meta.get("clip_model") if selection and selection.meta.get("encoder_type") == "clip" else None
    base = state.base_models()
    return {
        "available": list(CLIP_BACKBONES), "active": active or DEFAULT_CLIP, "encoder_types": list(ENCODER_TYPES),
        "base_models": {kind: base[kind] for kind in ENCODER_TYPES}, "tiny_zoo": state.settings.model_zoo == "tiny",
    }  # fmt: skip


@router.get("/classifiers")
def list_classifiers(places: ClipPlacesDep) -> list[dict[str, Any]]:
    """Every classifier head (newest first) with its metadata; reads only each file's JSON metadata."""
    return library.list_classifiers(places.classifiers, labelmaps.read_all(places.labelmaps))


@router.get("/classifiers/download", response_class=FileResponse, responses=responses(*_PATH_ERRORS))
def download_classifier(rel_path: Annotated[str, Query()], places: ClipPlacesDep) -> FileResponse:
    """The head file itself (`.npz`)."""
    path = library.resolve_classifier(places.classifiers, rel_path, what="rel_path")
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


@router.get("/classifiers/download_zip", responses=responses(*_PATH_ERRORS, ClassifierLoadFailed))
def download_classifier_zip(rel_path: Annotated[str, Query()], places: ClipPlacesDep) -> Response:
    """A zip of the head, its labelmap and its metadata (JSON)."""
    path = library.resolve_classifier(places.classifiers, rel_path, what="rel_path")
    headers = {"Content-Disposition": f'attachment; filename="{path.stem}.zip"'}
    return Response(library.classifier_zip(places.classifiers, path), media_type="application/zip", headers=headers)


@router.post(
    "/classifiers/rename",
    responses=responses(*_PATH_ERRORS, ClassifierNewNameRequired, ClassifierNewNameInvalid, ClassifierRenameConflict),
)
def rename_classifier(
    rel_path: Annotated[str, Form(description="The head to rename, relative to the classifier folder.")],
    places: ClipPlacesDep,
    state: StateDep,
    new_name: Annotated[str, Form(description="New file name (the extension is kept).")] = "",
) -> dict[str, Any]:
    """Rename a head in its folder (a taken name gets `_1`, `_2` ...); the active selection follows it."""
    return rename_and_follow(state.selections, places, rel_path, new_name)


@router.delete("/classifiers", responses=responses(*_PATH_ERRORS))
def delete_classifier(rel_path: Annotated[str, Query()], places: ClipPlacesDep, state: StateDep) -> dict[str, Any]:
    """Delete a head; if it was the active one, no classifier is active afterwards and its backbone is unloaded."""
    return delete_and_forget(state.selections, state.registry, places, rel_path)


@router.get("/labelmaps")
def list_labelmaps(layout: LayoutDep) -> list[dict[str, Any]]:
    """Labelmaps in uploads/labelmaps, newest first (empty files skipped)."""
    return labelmaps.list_labelmaps(layout.root("labelmaps"))


@router.get("/labelmaps/download", response_class=FileResponse, responses=_LABELMAP_ERRORS)
def download_labelmap(rel_path: str, places: ClipPlacesDep, root: str | None = None) -> FileResponse:
    """One labelmap file (`root`: labelmaps | classifiers, a hint of where to look first)."""
    path = labelmaps.resolve_labelmap(places.labelmap_roots, rel_path, root_hint=root)
    return FileResponse(path, media_type="text/plain; charset=utf-8", filename=path.name)


@router.delete("/labelmaps", responses=_LABELMAP_ERRORS)
def delete_labelmap(rel_path: str, places: ClipPlacesDep, root: str | None = None) -> dict[str, Any]:
    """Delete a labelmap file."""
    return labelmaps.delete_labelmap(places.labelmap_roots, rel_path, root_hint=root)


@router.get("/cache_size")
def embedding_cache_size(state: StateDep) -> dict[str, int]:
    """Bytes and entries in the embedding cache, and its bound (`TATOR_CLIP_EMBEDDING_CACHE_BYTES`)."""
    usage = cache.cache_usage(embedding_cache_root(state.layout))
    return {"bytes": usage.bytes, "files": usage.files, "max_bytes": state.settings.clip_embedding_cache_bytes}


@router.post("/cache/purge")
def purge_embedding_cache(state: StateDep) -> dict[str, Any]:
    """Delete every cached embedding (training then embeds its crops again)."""
    return {"status": "ok", "deleted_bytes": cache.purge(embedding_cache_root(state.layout))}

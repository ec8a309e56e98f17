"""The active classifier: which head, labelmap and backbone `/predict_base64` (and later the prepass gate)
use. It is a persisted selection (slot `classifier`), so it survives restarts and `/runtime/unload`; the
backbone itself is loaded lazily through the registry. Paths are stored relative to their folder.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tator.clip.backbones import CLIP_DIMS, Backbone, resolve_backbone
from tator.clip.embed import encoder_info
from tator.clip.head import ClassifierHead, is_background, load_head
from tator.clip.labelmaps import resolve_labelmap
from tator.clip.library import delete_classifier, rel_path, rename_classifier, resolve_classifier
from tator.datasets.labels import normalise_label, read_labelmap
from tator.errors import (
    ClassifierMetaRequired,
    ClipLoadFailed,
    DimensionMismatch,
    Dinov3LoadFailed,
    EncoderModelRequired,
    LabelmapClassifierClassMismatch,
    LabelmapRequiredForClassifier,
    ModelBusy,
    ModelLoadFailed,
    TatorError,
)
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections, Selection
from tator.storage.locks import file_lock
from tator.storage.paths import PathGuard

log = logging.getLogger(__name__)

SLOT = "classifier"


@dataclass(frozen=True)
class ClipPlaces:
    """The folders the active model refers to, and how backbones resolve on this server."""

    classifiers: Path
    labelmaps: Path
    data_dir: Path
    base_models: Callable[[], Mapping[str, str]]  # called only when a backbone must be resolved
    tiny: bool

    @property
    def labelmap_roots(self) -> dict[str, Path]:
        return {"labelmaps": self.labelmaps.resolve(), "classifiers": self.classifiers.resolve()}

    def root_of(self, path: Path) -> str:
        """Which labelmap root holds `path` (the labelmaps folder wins)."""
        return next(name for name, root in self.labelmap_roots.items() if PathGuard(root).contains(path))


@dataclass(frozen=True)
class ActiveHead:
    """The selection resolved to files: the head, the class names it predicts, and its backbone."""

    head: ClassifierHead
    names: tuple[str, ...]
    selection: Selection
    labelmap: Path | None = None


def class_names(head: ClassifierHead, labelmap: list[str] | None) -> tuple[str, ...]:
    """The head's class names, with a labelmap checked against (or, for index-labelled legacy heads,
    supplying) its object classes. Background classes are never compared."""
    if head.meta.get("legacy_index_classes"):
        if not labelmap:
            raise LabelmapRequiredForClassifier("this head's classes are indices: choose a labelmap for it")
        indices = [int(c) for c in head.classes]
        if min(indices) < 0 or max(indices) >= len(labelmap):
            raise LabelmapClassifierClassMismatch(f"the head has class ids up to {max(indices)}, the labelmap "
                                                  f"{len(labelmap)} names")  # fmt: skip
        return tuple(labelmap[i] for i in indices)
    if labelmap is not None:
        expected = {normalise_label(c) for c in head.classes if not is_background(c)}
        if {normalise_label(c) for c in labelmap if not is_background(c)} != expected:
            raise LabelmapClassifierClassMismatch("the labelmap's classes differ from the head's classes")
    return head.classes


def _backbone(head: ClassifierHead, places: ClipPlaces, clip_model: str | None) -> Backbone:
    meta = head.meta
    kind = str(meta.get("encoder_type") or "clip")
    if kind == "dinov3":
        if not meta.get("encoder_model"):
            raise EncoderModelRequired("this DINOv3 head does not name its encoder_model")
        names = [str(meta["encoder_model"])]
    else:
        guess = CLIP_DIMS.get(head.embedding_dim) if not meta.get("clip_model") else None
        asked = [clip_model] if clip_model else [meta.get("encoder_model"), meta.get("clip_model"), guess]
        names = [str(n) for n in asked if n]
        if not names:
            raise ClassifierMetaRequired(
                f"no CLIP backbone is known for a {head.embedding_dim}-dim head: send clip_model"
            )
    error: TatorError | None = None
    for name in names:  # the first that resolves on this server wins
        try:
            return resolve_backbone(kind, name, base_models=places.base_models(), tiny=places.tiny,
                                    data_dir=places.data_dir)  # fmt: skip
        except TatorError as exc:
            error = exc
    assert error is not None
    raise error


def head_backbone(head: ClassifierHead, places: ClipPlaces) -> Backbone:
    """The backbone a head was trained on, resolved on this server (for heads other than the active one)."""
    return _backbone(head, places, None)


def _encoder_dim(registry: ModelRegistry, backbone: Backbone) -> int:
    failed = Dinov3LoadFailed if backbone.encoder_type == "dinov3" else ClipLoadFailed
    try:
        with registry.use(backbone.spec, exclusive=False) as handle:
            return encoder_info(handle).dim
    except (ModelLoadFailed, ModelBusy) as exc:
        raise failed(f"{backbone.encoder_type} backbone {backbone.name} could not be loaded: {exc.message}",
                     encoder_model=backbone.source[:256]) from exc  # fmt: skip


def activate(
    selections: ModelSelections,
    registry: ModelRegistry,
    places: ClipPlaces,
    *,
    classifier_path: str | None,
    labelmap_path: str | None,
    keep_labelmap: bool,
    clip_model: str | None = None,
    logit_adjustment: bool | None = None,
) -> dict[str, Any]:
    """Validate the head, labelmap and backbone (loading it to check the embedding size), then select."""
    current = selections.get(SLOT)
    meta = current.meta if current else {}
    path = resolve_classifier(places.classifiers, classifier_path or meta.get("classifier_path"))
    head = load_head(path)
    same_head = current is not None and meta.get("classifier_path") == rel_path(places.classifiers, path)
    hint: str | None = None
    if keep_labelmap and same_head and meta.get("labelmap_path"):
        labelmap_path, hint = str(meta["labelmap_path"]), meta.get("labelmap_root")
    elif keep_labelmap:
        labelmap_path = None
    labelmap_file = resolve_labelmap(places.labelmap_roots, labelmap_path, root_hint=hint) if labelmap_path else None
    labelmap_root = places.root_of(labelmap_file) if labelmap_file else None
    class_names(head, read_labelmap(labelmap_file) if labelmap_file else None)
    backbone = _backbone(head, places, clip_model)
    dim = _encoder_dim(registry, backbone)
    if dim != head.embedding_dim:
        raise DimensionMismatch(f"dimension_mismatch:{head.embedding_dim}!={dim}", head_dim=head.embedding_dim,
                                encoder_dim=dim)  # fmt: skip
    adjust = bool(head.meta.get("logit_adjustment_inference")) if logit_adjustment is None else logit_adjustment
    with heads_lock(places):  # a rename or delete of this head cannot slip in between check and select
        path = resolve_classifier(places.classifiers, rel_path(places.classifiers, path))
        selections.select(
            SLOT, backbone.spec, classifier_path=rel_path(places.classifiers, path),
            labelmap_path=labelmap_file.relative_to(places.labelmap_roots[labelmap_root]).as_posix()
            if labelmap_file and labelmap_root else None, labelmap_root=labelmap_root, clip_model=backbone.name,
            encoder_type=backbone.encoder_type, encoder_model=backbone.source, logit_adjustment_inference=adjust,
        )  # fmt: skip
    log.info("classifier.activated path=%s encoder=%s", path.name, backbone.source)
    return status(selections, registry, places)


def load_active(selections: ModelSelections, places: ClipPlaces) -> ActiveHead | None:
    """The active head with its class names, or None when nothing is selected (errors propagate)."""
    selection = selections.get(SLOT)
    if selection is None:
        return None
    head = load_head(resolve_classifier(places.classifiers, selection.meta.get("classifier_path")))
    labelmap = selection.meta.get("labelmap_path")
    file = (
        resolve_labelmap(places.labelmap_roots, labelmap, root_hint=selection.meta.get("labelmap_root"))
        if labelmap
        else None
    )
    names = class_names(head, read_labelmap(file) if file else None)
    return ActiveHead(head, names, selection, file)


def status(selections: ModelSelections, registry: ModelRegistry, places: ClipPlaces) -> dict[str, Any]:
    """The reference's ActiveModelResponse fields; reads files but never loads a model."""
    selection = selections.get(SLOT)
    meta = selection.meta if selection else {}
    body: dict[str, Any] = {
        "clip_model": meta.get("clip_model"), "encoder_type": meta.get("encoder_type"),
        "encoder_model": meta.get("encoder_model"), "classifier_path": None, "classifier_rel_path":
        meta.get("classifier_path"), "labelmap_path": meta.get("labelmap_path"), "clip_ready": False,
        "clip_error": None, "clip_warnings": [], "encoder_ready": False, "encoder_error": None,
        "encoder_loaded": bool(selection and registry.is_loaded(selection.spec)), "labelmap_entries": [],
        "classes": [], "logit_adjustment_inference": bool(meta.get("logit_adjustment_inference", False)),
    }  # fmt: skip
    if selection is None:
        body["clip_error"] = body["encoder_error"] = "no active classifier"
        return body
    try:
        active = load_active(selections, places)
    except TatorError as exc:
        body["clip_error"] = body["encoder_error"] = f"{exc.code}: {exc.message}"
        return body
    assert active is not None
    body["classifier_path"] = str(places.classifiers / str(meta["classifier_path"]))
    body["labelmap_path"] = str(active.labelmap) if active.labelmap else None
    body["labelmap_entries"] = [n for n in active.names if not is_background(n)]
    body["classes"] = list(active.names)
    body["encoder_ready"] = True
    body["clip_ready"] = meta.get("encoder_type") == "clip"
    return body


def rename_and_follow(
    selections: ModelSelections, places: ClipPlaces, value: str, new_name: str | None
) -> dict[str, Any]:
    """Rename a head; the active selection follows it to the new name."""
    with heads_lock(places):
        result = rename_classifier(places.classifiers, value, new_name)
        current = selections.get(SLOT)
        renamed = result["status"] == "renamed"
        if current and renamed and current.meta.get("classifier_path") == result["old_rel_path"]:
            selections.select(SLOT, current.spec, **{**current.meta, "classifier_path": result["new_rel_path"]})
    return result


def delete_and_forget(
    selections: ModelSelections, registry: ModelRegistry, places: ClipPlaces, value: str
) -> dict[str, Any]:
    """Delete a head; if it was active, the selection is cleared and the backbone loaded for it is
    unloaded (unless another selection still uses it). Serialised with activations and renames."""
    with heads_lock(places):
        result = delete_classifier(places.classifiers, value)
        current = selections.get(SLOT)
        if current and current.meta.get("classifier_path") == result["rel_path"]:
            selections.clear(SLOT)
            if all(other.spec.key != current.spec.key for other in selections.all().values()):
                registry.unload(current.spec.key)
            log.info("classifier.deactivated reason=deleted rel_path=%s", result["rel_path"])
    return result


def heads_lock(places: ClipPlaces) -> contextlib.AbstractContextManager[None]:
    """Serialises activations, renames and deletes of heads, so the selection never names a gone file."""
    return file_lock(places.data_dir / ".locks" / "classifier-heads.lock")

"""What a prepass needs from the server, resolved into plain values before any model runs: the model
references (active detectors, SAM3, the classifier head), the labelmap and the glossary.

Bad input fails here, before any work: no source enabled, an unknown dataset or classifier, no labelmap.
A source that is enabled but has no model (no active run) is skipped with a warning, unless no source is
left at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tator.clip.active import ClipPlaces, head_backbone, load_active
from tator.clip.embed import DEFAULT_PADDING
from tator.clip.head import load_head
from tator.clip.library import resolve_classifier
from tator.datasets.catalog import DatasetRef, find_dataset
from tator.datasets.service import get_glossary
from tator.datasets.views import load_annotations
from tator.errors import PrepassLabelmapRequired, PrepassNoSource, PrepassSourcesUnavailable, TatorError
from tator.prepass.config import PrepassConfig
from tator.prepass.models import ClassifierRef, PrepassModels, SpecRef
from tator.prepass.terms import glossary_terms
from tator.runtime.active_runs import ActiveRuns
from tator.runtime.selections import ModelSelections
from tator.sam3.models import concept_spec
from tator.storage.layout import Layout


@dataclass(frozen=True)
class ServerModels:
    """Where the server keeps its model choices (built per request by the web layer)."""

    yolo_runs: ActiveRuns
    rfdetr_runs: ActiveRuns
    selections: ModelSelections
    base_models: Callable[[], Mapping[str, str]]
    clip_places: ClipPlaces


@dataclass(frozen=True)
class Vocabulary:
    """The classes a prepass labels with (index = class id) and each class's glossary terms."""

    labelmap: list[str]
    glossary: dict[str, list[str]]
    glossary_text: str


def _active(runs: ActiveRuns, family: str, warnings: list[str]) -> SpecRef | None:
    try:
        spec, _meta = runs.active_spec()
    except TatorError as exc:
        warnings.append(f"{family}_unavailable:{exc.code}")
        return None
    return SpecRef.of(spec)


def _classifier(server: ServerModels, classifier_id: str | None, warnings: list[str]) -> ClassifierRef | None:
    """The named head (unknown: 404 before any work), else the active head, else none."""
    places = server.clip_places
    if classifier_id:
        path = resolve_classifier(places.classifiers, classifier_id, what="classifier_id")
        head = load_head(path)
        backbone = head_backbone(head, places).spec
        padding = float(head.meta.get("crop_padding", DEFAULT_PADDING))
        adjust = bool(head.meta.get("logit_adjustment_inference"))
        return ClassifierRef(head_path=str(path), backbone=SpecRef.of(backbone), padding=padding,
                             logit_adjustment=adjust)  # fmt: skip
    try:
        active = load_active(server.selections, places)
    except TatorError as exc:
        warnings.append(f"classifier_unavailable:{exc.code}")
        return None
    if active is None:
        return None
    path = resolve_classifier(places.classifiers, active.selection.meta.get("classifier_path"))
    return ClassifierRef(
        head_path=str(path), backbone=SpecRef.of(active.selection.spec),
        padding=float(active.head.meta.get("crop_padding", DEFAULT_PADDING)),
        logit_adjustment=bool(active.selection.meta.get("logit_adjustment_inference")),
    )  # fmt: skip


def resolve_models(
    server: ServerModels, config: PrepassConfig, classifier_id: str | None
) -> tuple[PrepassModels, list[str]]:
    """The models of this prepass and a warning per enabled source that has none; 400 `prepass_no_source`
    when nothing is enabled, 412 `prepass_sources_unavailable` when no enabled source has a model."""
    if not config.sources:
        raise PrepassNoSource("enable at least one source: enable_yolo, enable_rfdetr, enable_sam3_text or "
                              "enable_sam3_similarity")  # fmt: skip
    warnings: list[str] = []
    yolo = _active(server.yolo_runs, "yolo", warnings) if config.enable_yolo else None
    rfdetr = _active(server.rfdetr_runs, "rfdetr", warnings) if config.enable_rfdetr else None
    sam3 = None
    if config.enable_sam3_text or config.enable_sam3_similarity:
        try:
            sam3 = SpecRef.of(concept_spec(server.selections, server.base_models()))
        except (TatorError, KeyError) as exc:
            warnings.append(f"sam3_unavailable:{getattr(exc, 'code', 'no_base_model')}")
    similarity_only = not (yolo or rfdetr or config.enable_sam3_text)
    if yolo is None and rfdetr is None and (sam3 is None or similarity_only):
        raise PrepassSourcesUnavailable(
            "no enabled source has a model (similarity needs boxes from another source): activate a YOLO or "
            "RF-DETR run, or enable SAM3 text prompts", warnings=",".join(warnings),
        )  # fmt: skip
    classifier = _classifier(server, classifier_id, warnings)
    return PrepassModels(yolo=yolo, rfdetr=rfdetr, sam3=sam3, classifier=classifier), warnings


def dataset_classes(ref: DatasetRef) -> list[str]:
    """The dataset's labelmap (from its metadata, else its annotations)."""
    classes = ref.meta.get("classes")
    if isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes):
        return list(classes)
    return list(load_annotations(ref).classes)


def vocabulary(
    layout: Layout, *, dataset_id: str | None, labelmap: Sequence[str] | None, glossary: str | None
) -> Vocabulary:
    """The request's labelmap and glossary, else the dataset's (unknown dataset: 404)."""
    ref = find_dataset(layout, dataset_id) if dataset_id else None
    names = [str(n).strip() for n in labelmap or [] if str(n).strip()]
    if not names and ref is not None:
        names = dataset_classes(ref)
    if not names:
        raise PrepassLabelmapRequired("send labelmap (class names) or the dataset_id of a dataset with classes")
    text = glossary if glossary is not None else (get_glossary(layout, ref.id)["glossary"] if ref else "")
    return Vocabulary(names, glossary_terms(text, names), text)

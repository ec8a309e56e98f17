"""Starting `/clip/train`: every precondition is checked before anything is queued.

The dataset comes from the registry (`dataset_id`) or from the multipart upload (staged, then removed with
the job). Server-side paths (`images_path_native` ...) are refused: register the dataset instead.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from tator.clip.backbones import resolve_backbone
from tator.clip.params import ClipTrainPlan, ClipTrainRequest
from tator.clip.staging import UploadedFile, stage_upload
from tator.clip.train import CLIP_TRAIN, ClipRoots
from tator.datasets.formats.model import DatasetAnnotations
from tator.datasets.training import resolve_training_dataset
from tator.errors import ClipTooFewClasses, DatasetPathsUnresolved, InvalidId, UploadFilenameInvalid
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.storage.files import remove_tree
from tator.storage.layout import Layout
from tator.storage.paths import check_id

log = logging.getLogger(__name__)

STALE_STAGING_S = 24 * 3600
_STRIP_SUFFIXES = (".npz", ".pkl", ".joblib", ".txt")


def clip_roots(layout: Layout) -> ClipRoots:
    uploads = layout.root("clip_uploads")
    return ClipRoots(layout.root("classifiers"), layout.root("labelmaps"), uploads / "embeddings", uploads / "staging")


def _stem(filename: str, default: str, what: str) -> str:
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    for suffix in _STRIP_SUFFIXES:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    try:
        return check_id(name or default, what=what)
    except InvalidId as exc:
        raise UploadFilenameInvalid(f"{what} must be letters, digits, '.', '_' or '-'", field=what) from exc


def _check_classes(annotations: DatasetAnnotations, request: ClipTrainRequest) -> None:
    counts = Counter(obj.class_id for image in annotations.images for obj in image.objects)
    kept = [c for c, n in counts.items() if n >= request.min_per_class]
    background = request.bg_class_count > 0 and request.bg_per_image > 0
    if len(kept) + int(background) < 2:
        raise ClipTooFewClasses(
            f"need two classes with at least {request.min_per_class} boxes each (background counts as one)",
            classes_with_enough_boxes=len(kept),
        )


def _sweep_staging(staging: Path) -> None:
    if not staging.is_dir():
        return
    for child in staging.iterdir():
        try:
            if time.time() - child.stat().st_mtime > STALE_STAGING_S:
                remove_tree(child)
        except OSError:
            continue


def start_training(
    request: ClipTrainRequest,
    files: Sequence[UploadedFile],
    *,
    layout: Layout,
    jobs: JobManager,
    base_models: Callable[[], dict[str, str]],
    tiny: bool,
    max_upload_bytes: int,
) -> JobRecord:
    """Validate, stage and queue; returns the queued job record."""
    if request.images_path_native or request.labels_path_native or request.labelmap_path_native:
        raise DatasetPathsUnresolved("server paths are not accepted: register the dataset and send dataset_id")
    # DINOv3 is named by encoder_model only: the UI also sends its CLIP choice in clip_model_name.
    dino = request.encoder_type.strip().lower() == "dinov3"
    name = request.encoder_model if dino else (request.clip_model_name or request.encoder_model)
    backbone = resolve_backbone(request.encoder_type, name, base_models=base_models(), tiny=tiny,
                                data_dir=layout.uploads_dir)  # fmt: skip
    roots, job_id = clip_roots(layout), uuid.uuid4().hex
    cleanup: Path | None = None
    if request.dataset_id:
        dataset = resolve_training_dataset(layout, request.dataset_id, None)
        annotations, dataset_id, source = dataset.annotations, dataset.ref.id, "registry"
        dataset_path = dataset.ref.path
    else:
        _sweep_staging(roots.staging)
        cleanup = roots.staging / job_id
        annotations = stage_upload(files, cleanup, max_bytes=max_upload_bytes)
        dataset_id, source, dataset_path = f"upload_{job_id[:8]}", "upload", cleanup
    try:
        _check_classes(annotations, request)
        default = f"{dataset_id}_{backbone.encoder_type}_{request.classifier_type}"
        model_stem = _stem(request.model_filename, default, "model_filename")
        plan = ClipTrainPlan(
            request=request, dataset_id=dataset_id, dataset_source=source, dataset_path=str(dataset_path),
            cache_dir=str(roots.cache), classes=list(annotations.classes),
            encoder_type=backbone.encoder_type, backbone_name=backbone.name, backbone_source=backbone.source,
            model_stem=model_stem, labelmap_stem=_stem(request.labelmap_filename, model_stem, "labelmap_filename"),
        )  # fmt: skip
        return jobs.submit_kind(CLIP_TRAIN, plan, job_id=job_id)
    except BaseException:
        if cleanup is not None:
            remove_tree(cleanup)
        raise

"""What every training job asks of a dataset before it is queued: it exists, has boxes, fits the task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from tator.datasets.catalog import DatasetRef, find_dataset
from tator.datasets.formats.model import DatasetAnnotations
from tator.datasets.meta import read_meta
from tator.datasets.views import load_annotations
from tator.errors import DatasetChanged, DatasetHasNoBoxes, DatasetIdOrRootRequired, TatorError
from tator.storage.layout import Layout
from tator.storage.paths import check_relative


@dataclass(frozen=True)
class TrainingDataset:
    ref: DatasetRef
    annotations: DatasetAnnotations

    @property
    def box_count(self) -> int:
        return sum(len(image.objects) for image in self.annotations.images)

    @property
    def has_polygons(self) -> bool:
        return any(obj.polygon for image in self.annotations.images for obj in image.objects)

    def split_count(self, split: str) -> int:
        return len(self.annotations.split(split))


def resolve_training_dataset(
    layout: Layout, dataset_id: str | None, dataset_root: str | None, *, seg_error: type[TatorError] | None = None
) -> TrainingDataset:
    """Find the dataset by id (or by the last component of a legacy `dataset_root`), read its
    annotations in whatever registered format it has, and refuse it when it has no boxes (or, with
    `seg_error`, no polygons). Never reads a path outside the dataset roots."""
    if not dataset_id and not dataset_root:
        raise DatasetIdOrRootRequired("send dataset_id (or dataset_root)")
    key = dataset_id or PurePosixPath(*check_relative(str(dataset_root)).parts).name
    ref = find_dataset(layout, key)
    dataset = TrainingDataset(ref, load_annotations(ref))
    if dataset.box_count == 0:
        raise DatasetHasNoBoxes(f"dataset {ref.id} has no labelled boxes to train on", dataset_id=ref.id)
    if seg_error is not None and not dataset.has_polygons:
        raise seg_error(f"dataset {ref.id} has no polygons for a segmentation task", dataset_id=ref.id)
    return dataset


def planned_dataset(path: str, classes: list[str], *, source: str = "registry") -> TrainingDataset:
    """In a job: the dataset its plan names, read again from its folder (job params carry paths, not
    loaded annotations). 409 `dataset_changed` when its classes are no longer those planned."""
    folder = Path(path)
    meta, meta_path = read_meta(folder)
    ref = DatasetRef(folder.name, folder, source, folder.parent, meta, meta_path)
    dataset = TrainingDataset(ref, load_annotations(ref))
    if list(dataset.annotations.classes) != list(classes):
        raise DatasetChanged(f"dataset {ref.id} changed its classes after the job was queued", dataset_id=ref.id)
    return dataset

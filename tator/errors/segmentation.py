"""Error codes of the segmentation-dataset build (`/segmentation/build/jobs`): bbox dataset -> YOLO-seg."""

from __future__ import annotations

from tator.errors.base import TatorError


class SegmentationSourceNotFound(TatorError):
    code, status = "segmentation_source_metadata_missing", 404


class SegmentationRequiresBbox(TatorError):
    """The source already holds polygons: the build turns boxes into polygons, not polygons into polygons."""

    code, status = "segmentation_builder_requires_bbox", 400


class SegmentationOutputPathInvalid(TatorError):
    code, status = "segmentation_output_path_invalid", 400


class SegmentationOutputExists(TatorError):
    code, status = "segmentation_output_exists", 409


class SegmentationNoClasses(TatorError):
    code, status = "segmentation_builder_no_classes", 400


class SegmentationNoImages(TatorError):
    code, status = "segmentation_builder_no_images", 400


class SegmentationNoBoxes(TatorError):
    """The source has images but not one box to prompt SAM with (an images-only upload, empty labels)."""

    code, status = "segmentation_builder_no_boxes", 400


class SegmentationSourceChanged(TatorError):
    """The source dataset was deleted or replaced between queueing the build and running it."""

    code, status = "segmentation_source_changed", 409


class SegmentationJobNotFound(TatorError):
    code, status = "segmentation_job_not_found", 404

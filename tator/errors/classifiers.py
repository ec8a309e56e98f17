"""Error codes of the classifier heads (CLIP / DINOv3)."""

from __future__ import annotations

from tator.errors.base import TatorError


# --- classifier heads (issue 5: CLIP / DINOv3 heads, classifier files, active model) -------------
class ClassifierFormatUnsafe(TatorError):
    code, status = "classifier_format_unsafe", 400


class ClassifierLoadFailed(TatorError):
    code, status = "classifier_load_failed", 400


class ClassifierNotFound(TatorError):
    code, status = "classifier_not_found", 404


class ClassifierRequired(TatorError):
    code, status = "classifier_required", 400


class ClassifierPathNotAllowed(TatorError):
    code, status = "classifier_path_not_allowed", 400


class ClassifierExtensionNotAllowed(TatorError):
    code, status = "classifier_extension_not_allowed", 400


class ClassifierMetaRequired(TatorError):
    code, status = "classifier_meta_required", 400


class ClassifierNewNameRequired(TatorError):
    code, status = "classifier_new_name_required", 400


class ClassifierNewNameInvalid(TatorError):
    code, status = "classifier_new_name_invalid", 400


class ClassifierRenameConflict(TatorError):
    code, status = "classifier_rename_conflict", 409


class ClipEncoderTypeUnsupported(TatorError):
    code, status = "clip_encoder_type_unsupported", 400


class ClipModelNotAllowed(TatorError):
    code, status = "clip_model_not_allowed", 400


class ClipLoadFailed(TatorError):
    code, status = "clip_load_failed", 503


class Dinov3LoadFailed(TatorError):
    code, status = "dinov3_load_failed", 503


class EncoderModelRequired(TatorError):
    code, status = "encoder_model_required", 400


class DimensionMismatch(TatorError):
    code, status = "dimension_mismatch", 400


class LabelmapNotFound(TatorError):
    code, status = "labelmap_not_found", 404


class LabelmapPathNotAllowed(TatorError):
    code, status = "labelmap_path_not_allowed", 400


class LabelmapExtensionNotAllowed(TatorError):
    code, status = "labelmap_extension_not_allowed", 400


class LabelmapRequiredForClassifier(TatorError):
    code, status = "labelmap_required_for_classifier", 400


class LabelmapClassifierClassMismatch(TatorError):
    code, status = "labelmap_classifier_class_mismatch", 400


class ImagesRequired(TatorError):
    code, status = "images_required", 400


class LabelsRequired(TatorError):
    code, status = "labels_required", 400


class DatasetPathsUnresolved(TatorError):
    code, status = "dataset_paths_unresolved", 400


class ClipTooFewClasses(TatorError):
    code, status = "clip_too_few_classes", 400


class BboxInvalid(TatorError):
    code, status = "bbox_invalid", 400

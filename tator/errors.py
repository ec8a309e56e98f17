"""Every error code the API can answer with, each defined exactly once.

A code is part of the contract: never rename one. Bodies are rendered by `tator.api.errors` as
`{"detail": code, "message": ..., **details}`.
"""

from __future__ import annotations

from typing import ClassVar

DetailValue = str | int | float | bool | None | list[str]


class TatorError(Exception):
    """Base of every error a service raises on purpose."""

    code: ClassVar[str] = "internal_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str, **details: DetailValue) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


# --- generic -------------------------------------------------------------------------------------
class InternalError(TatorError):
    code, status = "internal_error", 500


class NotFound(TatorError):
    code, status = "not_found", 404


class MethodNotAllowed(TatorError):
    code, status = "method_not_allowed", 405


class AuthRequired(TatorError):
    code, status = "auth_required", 401


class AuthInvalid(TatorError):
    code, status = "auth_invalid", 401


# --- paths and ids -------------------------------------------------------------------------------
class InvalidId(TatorError):
    code, status = "invalid_id", 400


class InvalidRelativePath(TatorError):
    code, status = "invalid_relative_path", 400


class PathOutsideDataDir(TatorError):
    code, status = "path_outside_data_dir", 400


# --- uploads and images --------------------------------------------------------------------------
class UploadTooLarge(TatorError):
    code, status = "upload_too_large", 413


class ImagePayloadMissing(TatorError):
    code, status = "image_payload_missing", 428


class ImageTokenNotFound(TatorError):
    code, status = "image_token_not_found", 404


class InvalidBase64(TatorError):
    code, status = "invalid_base64", 400


class InvalidImage(TatorError):
    code, status = "invalid_image", 400


class ImageBase64TooLarge(TatorError):
    code, status = "image_base64_too_large", 413


class ImageBytesTooLarge(TatorError):
    code, status = "image_bytes_too_large", 413


class ImagePixelsTooLarge(TatorError):
    code, status = "image_pixels_too_large", 413


# --- jobs ----------------------------------------------------------------------------------------
class JobNotFound(TatorError):
    code, status = "job_not_found", 404


class JobNotCancellable(TatorError):
    code, status = "job_not_cancellable", 409


class JobStartFailed(TatorError):
    code, status = "job_start_failed", 500


class DeviceUnavailable(TatorError):
    code, status = "device_unavailable", 400


# --- models --------------------------------------------------------------------------------------
class ModelBusy(TatorError):
    code, status = "model_busy", 503


class ModelFamilyUnknown(TatorError):
    code, status = "model_family_unknown", 400


class ModelLoadFailed(TatorError):
    code, status = "model_load_failed", 503


class ModelNotFound(TatorError):
    code, status = "model_not_found", 404


class DeviceOutOfMemory(TatorError):
    code, status = "device_out_of_memory", 503


# --- detectors (YOLO, RF-DETR): runs, active model, predict -------------------------------------
class InvalidRunId(TatorError):
    code, status = "invalid_run_id", 400


class YoloRunNotFound(TatorError):
    code, status = "yolo_run_not_found", 404


class YoloBestMissing(TatorError):
    code, status = "yolo_best_missing", 412


class YoloActiveMissing(TatorError):
    code, status = "yolo_active_missing", 412


class YoloActiveMissingWeights(TatorError):
    code, status = "yolo_active_missing_weights", 412


class RfdetrRunNotFound(TatorError):
    code, status = "rfdetr_run_not_found", 404


class RfdetrBestMissing(TatorError):
    code, status = "rfdetr_best_missing", 412


class RfdetrActiveMissing(TatorError):
    code, status = "rfdetr_active_missing", 412


class RfdetrActiveMissingWeights(TatorError):
    code, status = "rfdetr_active_missing_weights", 412


class RunBusy(TatorError):
    code, status = "run_delete_blocked_active_job", 409


class DetectorModeInvalid(TatorError):
    code, status = "detector_mode_invalid", 400


class RegionRequired(TatorError):
    code, status = "region_required", 400


class DetectorLabelmapMismatch(TatorError):
    code, status = "detector_labelmap_mismatch", 412


# --- detector training ---------------------------------------------------------------------------
class DatasetIdOrRootRequired(TatorError):
    code, status = "dataset_id_or_root_required", 422


class DatasetHasNoBoxes(TatorError):
    code, status = "dataset_has_no_boxes", 400


class YoloTosRequired(TatorError):
    code, status = "yolo_tos_required", 400


class YoloSegRequiresPolygons(TatorError):
    code, status = "yolo_seg_requires_polygons", 400


class YoloVariantUnknown(TatorError):
    code, status = "yolo_variant_unknown", 400


class YoloJobNotFound(TatorError):
    code, status = "yolo_job_not_found", 404


class RfdetrTosRequired(TatorError):
    code, status = "rfdetr_tos_required", 400


class RfdetrSegRequiresPolygons(TatorError):
    code, status = "rfdetr_seg_requires_polygons", 400


class RfdetrVariantUnknown(TatorError):
    code, status = "rfdetr_variant_unknown", 400


class RfdetrJobNotFound(TatorError):
    code, status = "rfdetr_job_not_found", 404


class TrainingProducedNoWeights(TatorError):
    code, status = "training_produced_no_weights", 500


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


# --- yolo head graft (issue 4) --------------------------------------------------------------------
class YoloBaseMissing(TatorError):
    code, status = "yolo_base_missing", 404


class YoloBaseMissingBest(TatorError):
    code, status = "yolo_base_missing_best", 400


class YoloBaseLabelmapMissing(TatorError):
    code, status = "yolo_base_labelmap_missing", 400


class YoloBaseCheckpointUnsupported(TatorError):
    code, status = "yolo_base_checkpoint_unsupported", 400


class YoloGraftDetectOnly(TatorError):
    code, status = "yolo_graft_detect_only", 400


class YoloLabelmapOverlap(TatorError):
    code, status = "yolo_labelmap_overlap", 400


class YoloRunExists(TatorError):
    code, status = "yolo_run_exists", 409


class YoloHeadGraftNotFound(TatorError):
    code, status = "yolo_head_graft_not_found", 404


class YoloHeadGraftBundleIncomplete(TatorError):
    code, status = "yolo_head_graft_bundle_incomplete", 409


class YoloBundleInvalid(TatorError):
    code, status = "yolo_bundle_invalid", 400


class YoloBundleUnsafe(TatorError):
    code, status = "yolo_bundle_unsafe", 400


def all_error_classes() -> list[type[TatorError]]:
    """Every TatorError subclass, recursively (used to check that codes are unique)."""
    found: list[type[TatorError]] = []
    pending: list[type[TatorError]] = list(TatorError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


# --- datasets (issue 3: datasets, glossaries, captions, crop zips, uploads) -----------------------
class DatasetNotFound(TatorError):
    code, status = "dataset_not_found", 404


class DatasetDeleteForbidden(TatorError):
    code, status = "dataset_delete_forbidden", 400


class DatasetTypeInvalid(TatorError):
    code, status = "dataset_type_invalid", 400


class DatasetFormatUnrecognized(TatorError):
    code, status = "dataset_format_unrecognized", 400


class DatasetNotYoloReady(TatorError):
    code, status = "dataset_not_yolo_ready", 400


class LabelmapMissing(TatorError):
    code, status = "labelmap_missing", 400


class LabelmapInvalid(TatorError):
    code, status = "labelmap_invalid", 400


class DatasetImageInvalid(TatorError):
    code, status = "dataset_image_invalid", 400


class DatasetImageTooLarge(TatorError):
    code, status = "dataset_image_too_large", 413


class DatasetLabelInvalid(TatorError):
    code, status = "dataset_label_invalid", 400


class DatasetLabelClassOutOfRange(TatorError):
    code, status = "dataset_label_class_out_of_range", 400


class DatasetAnnotationsInvalid(TatorError):
    code, status = "dataset_annotations_invalid", 400


class DatasetUploadFileMissing(TatorError):
    code, status = "dataset_upload_file_missing", 400


class MultipartInvalid(TatorError):
    code, status = "multipart_invalid", 400


class UploadContentTypeInvalid(TatorError):
    code, status = "upload_content_type_invalid", 415


class DatasetUploadTargetInvalid(TatorError):
    code, status = "dataset_upload_target_invalid", 400


class MetadataWriteFailed(TatorError):
    code, status = "metadata_write_failed", 500


class DatasetExportFailed(TatorError):
    code, status = "dataset_export_failed", 500


class DatasetZipInvalid(TatorError):
    code, status = "dataset_zip_invalid", 400


class DatasetZipPathTraversal(TatorError):
    code, status = "dataset_zip_path_traversal", 400


class DatasetZipAbsolutePath(TatorError):
    code, status = "dataset_zip_absolute_path", 400


class DatasetZipMemberNameInvalid(TatorError):
    code, status = "dataset_zip_member_name_invalid", 400


class DatasetZipSymlinkUnsupported(TatorError):
    code, status = "dataset_zip_symlink_unsupported", 400


class DatasetZipSpecialMemberUnsupported(TatorError):
    code, status = "dataset_zip_special_member_unsupported", 400


class DatasetZipEncryptedUnsupported(TatorError):
    code, status = "dataset_zip_encrypted_unsupported", 400


class DatasetZipDuplicateMember(TatorError):
    code, status = "dataset_zip_duplicate_member", 400


class DatasetZipOverlappingEntries(TatorError):
    code, status = "dataset_zip_overlapping_entries", 400


class DatasetZipTooManyEntries(TatorError):
    code, status = "dataset_zip_too_many_entries", 413


class DatasetZipEntryTooLarge(TatorError):
    code, status = "dataset_zip_entry_too_large", 413


class DatasetZipUncompressedTooLarge(TatorError):
    code, status = "dataset_zip_uncompressed_too_large", 413


class DatasetZipCompressionRatio(TatorError):
    code, status = "dataset_zip_compression_ratio_too_high", 413


class DatasetUploadSessionNotFound(TatorError):
    code, status = "dataset_upload_session_not_found", 404


class DatasetUploadSessionBusy(TatorError):
    code, status = "dataset_upload_session_busy", 409


class DatasetUploadOffsetMismatch(TatorError):
    code, status = "dataset_upload_offset_mismatch", 409


class DatasetUploadIncomplete(TatorError):
    code, status = "dataset_upload_incomplete", 409


class DatasetUploadChecksumMismatch(TatorError):
    code, status = "dataset_upload_checksum_mismatch", 400


class GlossaryNotFound(TatorError):
    code, status = "glossary_not_found", 404


class GlossaryNameRequired(TatorError):
    code, status = "glossary_name_required", 400


class GlossaryNameInvalid(TatorError):
    code, status = "glossary_name_invalid", 400


class GlossaryNameConflict(TatorError):
    code, status = "glossary_name_conflict", 409


class GlossaryTooLarge(TatorError):
    code, status = "glossary_too_large", 413


class GlossarySaveFailed(TatorError):
    code, status = "glossary_save_failed", 500


class CaptionNotFound(TatorError):
    code, status = "caption_not_found", 404


class CaptionTooLarge(TatorError):
    code, status = "caption_too_large", 413


class CropZipJobNotFound(TatorError):
    code, status = "crop_zip_job_not_found", 404


class CropZipTooLarge(TatorError):
    code, status = "crop_zip_too_large", 413


class FilenameRequired(TatorError):
    code, status = "filename_required", 400


class UploadFilenameInvalid(TatorError):
    code, status = "upload_filename_invalid", 400


class UploadExtensionNotAllowed(TatorError):
    code, status = "upload_extension_not_allowed", 400


class UploadExists(TatorError):
    code, status = "upload_exists", 409


class UploadQuotaExceeded(TatorError):
    code, status = "upload_quota_exceeded", 413

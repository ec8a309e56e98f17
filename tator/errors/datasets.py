"""Error codes of datasets, glossaries, captions, crop zips and uploads."""

from __future__ import annotations

from tator.errors.base import TatorError


# --- datasets (issue 3: datasets, glossaries, captions, crop zips, uploads) -----------------------
class DatasetNotFound(TatorError):
    code, status = "dataset_not_found", 404


class DatasetDeleteForbidden(TatorError):
    code, status = "dataset_delete_forbidden", 400


class DatasetTypeInvalid(TatorError):
    code, status = "dataset_type_invalid", 400


class DatasetFormatUnrecognized(TatorError):
    code, status = "dataset_format_unrecognized", 400


class DatasetChanged(TatorError):
    """A queued training job found its dataset's classes changed since it was planned."""

    code, status = "dataset_changed", 409


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


class DatasetUploadSessionDatasetIdRequired(TatorError):
    code, status = "dataset_upload_session_dataset_id_required", 400


class DatasetUploadManifestInvalid(TatorError):
    code, status = "dataset_upload_manifest_invalid", 400

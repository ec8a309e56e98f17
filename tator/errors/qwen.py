"""Error codes of the Qwen vision-language domain (models, inference, captions, datasets, LoRA training)."""

from __future__ import annotations

from tator.errors.base import TatorError


# --- models and settings ---------------------------------------------------------------------------
class ModelIdRequired(TatorError):
    code, status = "model_id_required", 400


class QwenModelNotFound(TatorError):
    code, status = "qwen_model_not_found", 404


class QwenModelMissingCheckpoint(TatorError):
    code, status = "qwen_model_missing_checkpoint", 404


class QwenModelUnsupported(TatorError):
    code, status = "qwen_model_unsupported", 400


class QwenLoadFailed(TatorError):
    code, status = "qwen_load_failed", 503


class QwenPlatformUnavailable(TatorError):
    code, status = "qwen_platform_unavailable", 400


class QwenTemplateInvalid(TatorError):
    code, status = "qwen_template_invalid", 400


# --- inference and captions -------------------------------------------------------------------------
class PromptOrItemsRequired(TatorError):
    code, status = "prompt_or_items_required", 422


class QwenLabelHintInvalid(TatorError):
    code, status = "qwen_label_hint_invalid", 422


class QwenSamUnavailable(TatorError):
    code, status = "qwen_sam_unavailable", 503


class QwenGenerationCancelled(TatorError):
    code, status = "qwen_generation_cancelled", 409


class QwenInferenceFailed(TatorError):
    code, status = "qwen_inference_failed", 503


class QwenCaptionFailed(TatorError):
    code, status = "qwen_caption_failed", 503


# --- datasets ---------------------------------------------------------------------------------------
class QwenDatasetNotFound(TatorError):
    code, status = "qwen_dataset_not_found", 404


class QwenDatasetDeleteForbidden(TatorError):
    code, status = "qwen_dataset_delete_forbidden", 400


class QwenDatasetJobNotFound(TatorError):
    code, status = "qwen_dataset_job_not_found", 404


class QwenDatasetSplitInvalid(TatorError):
    code, status = "qwen_dataset_split_invalid", 400


class QwenDatasetAnnotationInvalid(TatorError):
    code, status = "qwen_dataset_annotation_invalid", 400


class QwenDatasetEmpty(TatorError):
    code, status = "qwen_dataset_empty", 400


class QwenDatasetNotReady(TatorError):
    code, status = "qwen_dataset_not_ready", 400


# --- training ---------------------------------------------------------------------------------------
class DatasetIdRequired(TatorError):
    code, status = "dataset_id_required", 400


class QwenJobNotFound(TatorError):
    code, status = "qwen_job_not_found", 404


class QwenTrainingUnavailable(TatorError):
    code, status = "qwen_training_unavailable", 503


class QwenTrainingModeUnsupported(TatorError):
    code, status = "qwen_training_mode_unsupported", 400


class QwenCachePurgeBlocked(TatorError):
    code, status = "qwen_cache_purge_blocked_active_jobs", 409


class QwenSettingsInvalid(TatorError):
    code, status = "qwen_settings_invalid", 400

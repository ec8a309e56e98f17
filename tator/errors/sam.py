"""Error codes of SAM / SAM3: interactive prompts, preload slots, concept prompts and the SAM3 model registry."""

from __future__ import annotations

from tator.errors.base import TatorError


# --- interactive prompts (points, boxes) ----------------------------------------------------------
class PositivePointsRequired(TatorError):
    code, status = "positive_points_required", 422


class PointOutsideImage(TatorError):
    code, status = "point_outside_image", 422


class PromptBboxInvalid(TatorError):
    code, status = "invalid_bbox", 422


class InvalidBboxDims(TatorError):
    code, status = "invalid_bbox_dims", 422


class SamVariantUnknown(TatorError):
    code, status = "sam_variant_unknown", 422


# --- preload slots --------------------------------------------------------------------------------
class ImageNameRequiredForSlot(TatorError):
    code, status = "image_name_required_for_slot", 422


class PreloadSuperseded(TatorError):
    code, status = "preload_superseded", 409


class SlotDisabled(TatorError):
    code, status = "slot_disabled", 409


class SlotNotFound(TatorError):
    code, status = "slot_not_found", 404


class SlotBusy(TatorError):
    code, status = "slot_busy", 409


# --- SAM3 concept prompts (text, exemplar boxes) ---------------------------------------------------
class TextPromptRequired(TatorError):
    code, status = "text_prompt_required", 422


class Sam3TextRequiresSam3(TatorError):
    code, status = "sam3_text_requires_sam3", 400


class Sam3VisualRequiresSam3(TatorError):
    code, status = "sam3_visual_requires_sam3", 400


class Sam3VisualBoxesRequired(TatorError):
    code, status = "sam3_visual_boxes_required", 422


# --- SAM3 model registry --------------------------------------------------------------------------
class Sam3CheckpointNotFound(TatorError):
    code, status = "sam3_checkpoint_not_found", 404


class Sam3CheckpointPathInvalid(TatorError):
    code, status = "sam3_checkpoint_path_invalid", 400


class InvalidBboxLeft(TatorError):
    code, status = "invalid_bbox_left", 422


class InvalidBboxTop(TatorError):
    code, status = "invalid_bbox_top", 422


class InvalidBboxWidth(TatorError):
    code, status = "invalid_bbox_width", 422


class InvalidBboxHeight(TatorError):
    code, status = "invalid_bbox_height", 422


class InvalidBboxLabels(TatorError):
    code, status = "invalid_bbox_labels", 422


class Sam3RunNotFound(TatorError):
    code, status = "sam3_run_not_found", 404


class Sam3RunActive(TatorError):
    code, status = "sam3_run_active", 409


class InvalidScope(TatorError):
    code, status = "invalid_scope", 400


# --- SAM3 datasets and training -------------------------------------------------------------------
class Sam3DatasetNotFound(TatorError):
    code, status = "sam3_dataset_not_found", 404


class Sam3DatasetTypeUnsupported(TatorError):
    code, status = "sam3_dataset_type_unsupported", 400


class Sam3TrainingNoImages(TatorError):
    code, status = "sam3_training_no_images", 400


class Sam3JobNotFound(TatorError):
    code, status = "sam3_job_not_found", 404


# --- SAM3 prompt helper ---------------------------------------------------------------------------
class RecipeClassNotFound(TatorError):
    code, status = "recipe_class_not_found", 404


class SearchPromptsRequired(TatorError):
    code, status = "search_prompts_required", 400


class SearchPromptsEmpty(TatorError):
    code, status = "search_prompts_empty", 400


class SearchClassNotFound(TatorError):
    code, status = "search_class_not_found", 404


class RecipePromptsRequired(TatorError):
    code, status = "recipe_prompts_required", 400


class RecipeNoImagesSampled(TatorError):
    code, status = "recipe_no_images_sampled", 400


class RecipeNoGtForClass(TatorError):
    code, status = "recipe_no_gt_for_class", 400


class PromptHelperJobNotFound(TatorError):
    code, status = "prompt_helper_job_not_found", 404


class PromptHelperPresetNotFound(TatorError):
    code, status = "prompt_helper_preset_not_found", 404


class InvalidPrompts(TatorError):
    code, status = "invalid_prompts", 400


class PromptsMustBeObject(TatorError):
    code, status = "prompts_must_be_object", 400


class NoPromptsProvided(TatorError):
    code, status = "no_prompts_provided", 400

"""Error codes of the detector domains: runs, predict, training and the YOLO head graft."""

from __future__ import annotations

from tator.errors.base import TatorError


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


# --- consistency (issue 17: weights checked against run.json) ------------------------------------
class RunWeightsIncomplete(TatorError):
    code, status = "run_weights_incomplete", 412

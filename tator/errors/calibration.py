"""Error codes of calibration: starting a calibration job, its job routes and the calibrator it leaves."""

from __future__ import annotations

from tator.errors.base import TatorError


class CalibrationJobNotFound(TatorError):
    code, status = "calibration_job_not_found", 404


class CalibrationLabelsMissing(TatorError):
    code, status = "calibration_labels_missing", 400


class CalibrationImagesMissing(TatorError):
    code, status = "calibration_images_missing", 400


class CalibrationNoSourceEnabled(TatorError):
    code, status = "calibration_no_source_enabled", 400


class CalibrationPrepassNotFound(TatorError):
    code, status = "calibration_prepass_not_found", 404


class CalibrationCandidatesMissing(TatorError):
    code, status = "calibration_candidates_missing", 422


class CalibrationReportMissing(TatorError):
    code, status = "calibration_report_missing", 404


class CalibratorNotFound(TatorError):
    code, status = "calibrator_not_found", 404


class CalibratorInvalid(TatorError):
    code, status = "calibrator_invalid", 422


class CalibrationCandidatesUnusable(TatorError):
    code, status = "calibration_candidates_unusable", 422

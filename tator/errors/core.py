"""Generic, path, upload, image, job and model error codes."""

from __future__ import annotations

from tator.errors.base import TatorError


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


class RequestBodyTooLarge(TatorError):
    code, status = "request_body_too_large", 413


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


class JobWorkerDied(TatorError):
    """The process or node running a job (a Ray worker) died; the message carries its last words."""

    code, status = "job_worker_died", 500


class ExecutorUnavailable(TatorError):
    """The configured job executor (the Ray cluster) cannot be reached or cannot see the data directory."""

    code, status = "executor_unavailable", 503


class JobCompletionFailed(TatorError):
    """The job's work succeeded but the server-side completion step (activate, publish) raised."""

    code, status = "job_completion_failed", 500


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


class ModelWeightsUnavailable(TatorError):
    """A base model whose weights are neither on this machine nor downloadable now; the message says how
    to provide them (a local path, downloads on, or the tiny demo zoo)."""

    code, status = "model_weights_unavailable", 503


class DeviceOutOfMemory(TatorError):
    code, status = "device_out_of_memory", 503

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


def all_error_classes() -> list[type[TatorError]]:
    """Every TatorError subclass, recursively (used to check that codes are unique)."""
    found: list[type[TatorError]] = []
    pending: list[type[TatorError]] = list(TatorError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found

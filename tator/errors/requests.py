"""Error codes about the shape of a request itself: its body, its fields, its content type."""

from __future__ import annotations

from tator.errors.base import TatorError


class RequestValidationFailed(TatorError):
    """A field is missing, of the wrong type or out of range; `fields` names them."""

    code, status = "validation_error", 422


class JsonInvalid(TatorError):
    """The body is not parseable JSON."""

    code, status = "json_invalid", 422


class JsonBodyRequired(TatorError):
    """A JSON route received another content type (multipart, raw bytes, form)."""

    code, status = "json_body_required", 415


class ImageJsonRequired(TatorError):
    """An image route received the image as raw bytes or multipart instead of JSON with base64 or a token."""

    code, status = "image_json_required", 415


class ImageRequired(TatorError):
    """A detector predict body names no image at all (neither `image_base64` nor `image_token`)."""

    code, status = "image_required", 422

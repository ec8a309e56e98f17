"""Renders every error, validation errors included, as `{"detail": code, "message": ..., **details}`."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tator.api.validation import validation_error
from tator.errors import InternalError, TatorError
from tator.logging import request_id_var

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "auth_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "upload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def error_body(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"detail": code, "message": message, **details}


def tator_error_response(exc: TatorError) -> JSONResponse:
    return JSONResponse(error_body(exc.code, exc.message, **exc.details), status_code=exc.status)


async def _on_tator_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TatorError)
    if exc.status >= 500:
        log.warning("request.error code=%s message=%s", exc.code, exc.message)
    return tator_error_response(exc)


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = exc.detail if isinstance(exc.detail, str) and exc.detail.isidentifier() else None
    code = code or _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=exc.headers)


def unexpected_error_response(request_id: str, exc: BaseException) -> JSONResponse:
    """The 500 answer of an unexpected error (logged with its traceback)."""
    log.error("request.crashed request_id=%s", request_id, exc_info=exc)
    body = error_body(InternalError.code, "internal server error; see the server log", request_id=request_id)
    return JSONResponse(body, status_code=500)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return tator_error_response(validation_error(request, exc))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    return unexpected_error_response(str(request.scope.get("tator.request_id") or request_id_var.get()), exc)


def install_error_handlers(app: FastAPI) -> None:
    """One handler per family: TatorError, request validation (the same envelope), Starlette HTTP errors
    (404/405 ...), and anything else. No handler ever echoes or logs the request body."""
    app.add_exception_handler(TatorError, _on_tator_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


def responses(*errors: type[TatorError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries documenting the codes a route can answer with."""
    documented: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = documented.setdefault(error.status, {"description": ""})
        codes = [c for c in entry["description"].split(", ") if c]
        entry["description"] = ", ".join([*codes, error.code])
    return documented

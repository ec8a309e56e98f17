"""Request validation failures as the one error envelope, never FastAPI's list shape.

`detail` is a stable code: the contract's own code when a validator raised one (`image_required`,
`dataset_id_or_root_required` ...), `json_invalid` for a body that is not JSON, 415 `image_json_required` /
`json_body_required` for a body of another content type (raw image bytes, multipart), else
`validation_error`. `fields` lists the offending fields and `problems` says what is wrong with each.
The submitted values are never echoed or logged: a binary body must not reach a log or a response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from fastapi import Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

from tator.errors import TatorError, all_error_classes
from tator.errors.requests import ImageJsonRequired, JsonBodyRequired, JsonInvalid, RequestValidationFailed

MAX_PROBLEMS = 20
IMAGE_FIELDS = frozenset({"image_base64", "image_token"})


@cache
def _registry() -> dict[str, type[TatorError]]:
    return {cls.code: cls for cls in all_error_classes()}


def body_model(route: object) -> type[BaseModel] | None:
    """The pydantic model of a route's JSON body, or None (no body, a form, or a raw request)."""
    field = getattr(route, "body_field", None) if isinstance(route, APIRoute) else None
    if isinstance(getattr(field, "field_info", None), params.Form):  # File is a Form too
        return None
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def field_name(loc: Sequence[Any]) -> str:
    """`("body", "augmentations", "mosaic")` -> `augmentations.mosaic`; query/path fields keep their name."""
    parts = [str(p) for p in loc[1:]] if loc and loc[0] == "body" else [str(p) for p in loc[1:] or loc]
    return ".".join(parts) or "body"


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in ("", "application/json") or (media.startswith("application/") and media.endswith("+json"))


def _wrong_content_type(request: Request, errors: Sequence[Mapping[str, Any]]) -> TatorError | None:
    content_type = request.headers.get("content-type", "")
    if _is_json(content_type) or not any(e.get("loc", ("",))[0] == "body" for e in errors):
        return None
    model = body_model(request.scope.get("route"))
    if model is None:  # a form, multipart or raw-body route: its own fields are what is wrong
        return None
    media = content_type.split(";", 1)[0].strip()[:100]
    if IMAGE_FIELDS & set(model.model_fields):
        return ImageJsonRequired(
            f"this route takes JSON (Content-Type: application/json), not {media}: send the image as "
            "image_base64 (base64 of the encoded file, or a data URL) or as image_token (returned by an "
            'earlier call), e.g. {"image_base64": "<base64>"}',
            content_type=media,
        )
    return JsonBodyRequired(
        f"this route takes a JSON body (Content-Type: application/json), not {media}; see /docs for its schema",
        content_type=media,
    )


def _problem(error: Mapping[str, Any]) -> str:
    kind = str(error.get("type", ""))
    text = "is required" if kind == "missing" else str(error.get("msg", "is invalid"))
    return f"{field_name(error.get('loc', ()))}: {text}"


def validation_error(request: Request, exc: RequestValidationError) -> TatorError:
    """The envelope error for a failed request validation (see the module docstring)."""
    errors: list[Mapping[str, Any]] = list(exc.errors())
    wrong_type = _wrong_content_type(request, errors)
    if wrong_type is not None:
        return wrong_type
    fields = list(dict.fromkeys(field_name(e.get("loc", ())) for e in errors))[:MAX_PROBLEMS]
    problems = [_problem(e) for e in errors[:MAX_PROBLEMS]]
    if any(e.get("type") == "json_invalid" for e in errors):
        reason = next(str(e.get("ctx", {}).get("error", "")) for e in errors if e.get("type") == "json_invalid")
        return JsonInvalid(f"the body is not valid JSON ({reason}); send a JSON object", fields=["body"])
    for error in errors:
        named = _registry().get(str(error.get("type", "")))
        if named is not None:
            named_fields = (error.get("ctx") or {}).get("fields")
            fields = [str(f) for f in named_fields] if isinstance(named_fields, list) else fields
            return named(str(error.get("msg", named.code)), fields=fields, problems=problems)
    summary = "; ".join(problems[:5])
    return RequestValidationFailed(
        f"invalid request: {summary}. Fix the fields listed in `fields` (schemas and examples at /docs)",
        fields=fields,
        problems=problems,
    )

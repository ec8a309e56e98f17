"""The OpenAPI description as a newcomer needs it, completed in one place after the routes are built.

- Path and query parameters that recur everywhere (`dataset_id`, `job_id` ...) get their description from
  one table instead of a copy per route.
- Every operation documents the request-level errors the server really answers with: 422
  `validation_error` (and `json_invalid` for JSON bodies) and 415 `json_body_required` /
  `image_json_required`, merged with the route's own codes.
- Every error response has the one envelope as its schema.
Multipart and raw-body routes declare their own request schemas (`multipart_body`, `raw_body`).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from tator.errors.requests import ImageJsonRequired, JsonBodyRequired, JsonInvalid, RequestValidationFailed

PARAMETERS = {
    "dataset_id": "Dataset id (as listed by GET /datasets; its signature is accepted too).",
    "job_id": "Job id (uuid hex) returned when the job was started; also the run id of a training job.",
    "run_id": "Training run id (as listed by GET /<family>/runs).",
    "prepass_id": "Id of a stored prepass (records posted to it; a calibration job's prepass_id names it).",
    "session_id": "Upload session id returned by the session's init/start call.",
    "name": "Glossary name (as listed by GET /glossaries).",
    "image_name": "Image path relative to the dataset (e.g. train/images/a.jpg, or its stem).",
    "jobId": "Crop-zip job id returned by POST /crop_zip_init.",
    "kind": "Only jobs of this kind (e.g. yolo.train, rfdetr.train, clip.train).",
    "limit": "At most this many items (1..5000).",
    "offset": "Byte offset of this chunk in the zip; must equal the bytes received so far.",
    "rel_path": "Path relative to the classifier (or labelmap) folder, as listed by the matching GET route.",
    "root": "Which labelmap folder to look in (optional hint; default: every known folder).",
    "task": "Model task: detect or segment.",
    "preset_id": "Prompt-helper preset id (as listed by GET /sam3/prompt_helper/presets).",
    "trash_id": "Trash entry id (as listed by GET /datasets/trash; also returned by DELETE /datasets/{id}).",
    "force": "Accepted for the reference UI; a cancel always stops at the next generated token.",
}

ERROR_ENVELOPE: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["detail", "message"],
    "properties": {
        "detail": {"type": "string", "description": "Stable snake_case error code (see the API guide's table)."},
        "message": {"type": "string", "description": "What went wrong and what to do next, for people."},
        "fields": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Validation errors: the offending fields (dotted paths into the body).",
        },
        "problems": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Validation errors: `field: what is wrong`, one per problem.",
        },
    },
    "additionalProperties": True,
    "description": "Every error answer. Some codes add context (e.g. `limit_bytes`, `accepted_layouts`).",
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


def multipart_body(fields: dict[str, str], *, files: dict[str, str], required: tuple[str, ...]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads multipart/form-data itself (streamed, so FastAPI cannot see it)."""
    properties: dict[str, Any] = {name: {"type": "string", "description": text} for name, text in fields.items()}
    for name, text in files.items():
        properties[name] = {"type": "string", "format": "binary", "description": text}
    schema = {"type": "object", "properties": properties, "required": list(required)}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


def form_or_json_body(model: type[BaseModel], *, files: dict[str, str]) -> dict[str, Any]:
    """`openapi_extra` for a route that takes `model`'s fields as JSON or as multipart form fields (+ files)."""
    schema = model.model_json_schema()
    form = {**schema, "properties": dict(schema.get("properties", {}))}
    for name, text in files.items():
        form["properties"][name] = {
            "type": "array",
            "items": {"type": "string", "format": "binary"},
            "description": text,
        }
    content = {"application/json": {"schema": schema}, "multipart/form-data": {"schema": form}}
    return {"requestBody": {"required": True, "content": content}}


def raw_body(media_type: str, description: str) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is raw bytes (a chunk of a file)."""
    schema = {"type": "string", "format": "binary", "description": description}
    return {"requestBody": {"required": True, "content": {media_type: {"schema": schema}}}}


def _codes(response: dict[str, Any]) -> list[str]:
    return [c for c in str(response.get("description", "")).split(", ") if c and " " not in c]


def _add_codes(responses: dict[str, Any], status: int, codes: list[str]) -> None:
    entry = responses.setdefault(str(status), {})
    merged = list(dict.fromkeys([*codes, *_codes(entry)]))
    entry["description"] = ", ".join(merged)


def _has_image_fields(schema: dict[str, Any], spec: dict[str, Any]) -> bool:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return "image_base64" in schema.get("properties", {})


def _complete_operation(operation: dict[str, Any], spec: dict[str, Any]) -> None:
    for param in operation.get("parameters", []):
        if not param.get("description") and param["name"] in PARAMETERS:
            param["description"] = PARAMETERS[param["name"]]
    responses = operation.setdefault("responses", {})
    validation = responses.get("422", {})
    if validation.get("description") == "Validation Error":
        validation["description"] = ""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        image = _has_image_fields(content["application/json"].get("schema", {}), spec)
        wrong_type = ImageJsonRequired if image else JsonBodyRequired
        _add_codes(responses, wrong_type.status, [wrong_type.code])
        _add_codes(responses, JsonInvalid.status, [JsonInvalid.code])
    if content or operation.get("parameters"):
        _add_codes(responses, RequestValidationFailed.status, [RequestValidationFailed.code])
    for status, response in responses.items():
        if status[:1] in ("4", "5"):
            response["content"] = {"application/json": {"schema": ERROR_REF}}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, completed as the module docstring says."""
    spec = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_ENVELOPE
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for item in spec["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "responses" in operation:
                _complete_operation(operation, spec)
    settings = getattr(app.state, "settings", None)
    if getattr(settings, "api_token", None):  # Swagger UI's "Authorize" then sends the header on every try
        spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        spec["security"] = [{"bearer": []}]
    return spec


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(build_openapi(app))
        return cached

    setattr(app, "openapi", openapi)  # noqa: B010 - FastAPI's documented way to replace the schema builder

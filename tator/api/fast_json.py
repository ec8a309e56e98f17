"""Answers that a plain-`def` route serialises itself, in its worker thread.

FastAPI validates and serialises the return value of a plain-`def` route against its `response_model`
in a second trip through the thread pool (`serialize_response` runs `field.validate` there); a route that
already built its pydantic answer pays that trip and a second validation for nothing. Returning the
answer's JSON as a `Response` skips both, while `response_model` still documents the shape in OpenAPI.
Used by the interactive inference routes, where each saved 0.1 ms counts (docs/benchmarks.md).
"""

from __future__ import annotations

from fastapi.responses import Response
from pydantic import BaseModel


class ModelJSONResponse(Response):
    media_type = "application/json"

    def __init__(self, answer: BaseModel, status_code: int = 200) -> None:
        super().__init__(answer.model_dump_json(by_alias=True), status_code=status_code)  # as FastAPI would

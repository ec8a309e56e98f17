"""Checks an OpenAPI description the way a newcomer meets it: every request field described, every
documented error code defined in the one registry (tator.errors). Used by the tests and runnable alone:
`python tools/openapi_lint.py` prints each finding."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

CODE = re.compile(r"^[a-z][a-z0-9_]*$")
METHODS = ("get", "post", "put", "patch", "delete")


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = spec["components"]["schemas"][name]
    return schema


def _properties(schema: dict[str, Any], spec: dict[str, Any], where: str, seen: set[str]) -> Iterator[str]:
    """`where.field` of every property without a description, nested models included."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen = {*seen, name}
    schema = _resolve(schema, spec)
    for option in schema.get("anyOf", []) + schema.get("allOf", []) + schema.get("oneOf", []):
        yield from _properties(option, spec, where, seen)
    if "items" in schema:
        yield from _properties(schema["items"], spec, where + "[]", seen)
    for name, prop in schema.get("properties", {}).items():
        if not (prop.get("description") or _resolve(prop, spec).get("description")):
            yield f"{where}.{name}"
        yield from _properties(prop, spec, f"{where}.{name}", seen)


def undescribed_fields(spec: dict[str, Any]) -> list[str]:
    """`METHOD /path: field` for every request parameter or body field that has no description."""
    missing: list[str] = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            where = f"{method.upper()} {path}"
            for param in operation.get("parameters", []):
                if not param.get("description"):
                    missing.append(f"{where}: {param['in']} {param['name']}")
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                missing += [f"{where}: {f}" for f in _properties(media.get("schema", {}), spec, "body", set())]
    return sorted(set(missing))


def documented_codes(spec: dict[str, Any]) -> dict[str, set[str]]:
    """Error code -> the operations documenting it (from each 4xx/5xx response description)."""
    found: dict[str, set[str]] = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            operation = item.get(method) or {}
            for status, response in operation.get("responses", {}).items():
                if not str(status).startswith(("4", "5")):
                    continue
                for code in str(response.get("description", "")).split(", "):
                    if code.strip() and code != "Validation Error":
                        found.setdefault(code.strip(), set()).add(f"{method.upper()} {path}")
    return found


def undocumented_request_bodies(spec: dict[str, Any]) -> list[str]:
    """Operations whose description speaks of a multipart body but that publish no request schema."""
    words = ("multipart",)
    missing = []
    for path, item in spec["paths"].items():
        for method in ("post", "put", "patch"):
            operation = item.get(method)
            if operation is None or "requestBody" in operation:
                continue
            text = (operation.get("description", "") + " " + operation.get("summary", "")).lower()
            if any(word in text for word in words):
                missing.append(f"{method.upper()} {path}")
    return missing


def main() -> int:
    import tempfile
    from pathlib import Path

    from tator.app import create_app
    from tator.errors import all_error_classes
    from tator.settings import Settings

    with tempfile.TemporaryDirectory() as data_dir:
        spec = create_app(Settings(data_dir=Path(data_dir), log_level="WARNING"), loaders={}).openapi()
    registry = {cls.code for cls in all_error_classes()}
    problems = [f"undescribed: {f}" for f in undescribed_fields(spec)]
    problems += [
        f"unknown code: {c} ({sorted(ops)[0]})" for c, ops in documented_codes(spec).items() if c not in registry
    ]
    problems += [f"multipart body without schema: {op}" for op in undocumented_request_bodies(spec)]
    print("\n".join(problems) or "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

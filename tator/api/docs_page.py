"""`/docs` and `/redoc` rendered by the server itself from its OpenAPI document: no CDN, no script.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and are blank offline, and no Swagger UI or
ReDoc bundle is installed with this server; so the reference is plain HTML built from the same
document as `/openapi.json`: every route with its parameters, body fields (type, required, description),
examples and error codes. `GET /` points here when no UI folder is served.
"""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

METHODS = ("get", "post", "put", "patch", "delete")
STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:1100px;padding:0 1.5em 4em;color:#1d2330}
h1{margin-top:1.2em}h2{border-bottom:2px solid #d8dce5;padding-bottom:.2em;margin-top:2em}
.op{border:1px solid #d8dce5;border-radius:6px;padding:.6em 1em;margin:1em 0}
.m{font-weight:700;text-transform:uppercase;padding:.1em .5em;border-radius:4px;color:#fff;background:#4a5b7a}
.m.post{background:#2f7a4f}.m.delete{background:#a33}.m.put{background:#a67c00}
table{border-collapse:collapse;width:100%;margin:.4em 0}td,th{border:1px solid #e3e6ec;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f4f6f9}code,pre{font-family:ui-monospace,monospace}
pre{background:#f4f6f9;padding:.6em;overflow:auto}nav a{margin-right:1em}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _schema(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _type(schema: dict[str, Any], spec: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return " | ".join(_type(o, spec) for o in options)
    if schema.get("type") == "array":
        return f"{_type(schema.get('items', {}), spec)}[]"
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    return str(schema.get("format") or schema.get("type") or "any")


def _fields(schema: dict[str, Any], spec: dict[str, Any]) -> str:
    resolved = _schema(schema, spec)
    required = set(resolved.get("required", []))
    rows = []
    for name, prop in resolved.get("properties", {}).items():
        text = prop.get("description") or _schema(prop, spec).get("description", "")
        default = f" (default {json.dumps(prop['default'])})" if "default" in prop else ""
        mark = "yes" if name in required else ""
        rows.append(f"<tr><td><code>{_e(name)}</code></td><td>{_e(_type(prop, spec))}</td><td>{mark}</td>"
                    f"<td>{_e(text)}{_e(default)}</td></tr>")  # fmt: skip
    if not rows:
        return f"<p>{_e(_type(schema, spec))}: {_e(resolved.get('description', ''))}</p>"
    examples = resolved.get("examples")
    example = f"<p>Example:</p><pre>{_e(json.dumps(examples[0], indent=2))}</pre>" if examples else ""
    head = "<tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>{example}"


def _operation(method: str, path: str, op: dict[str, Any], spec: dict[str, Any]) -> str:
    parts = [f'<div class="op" id="{_e(op.get("operationId", ""))}"><p><span class="m {method}">{method}</span> '
             f"<code>{_e(path)}</code> {_e(op.get('summary', ''))}</p>"]  # fmt: skip
    if op.get("description"):
        parts.append(f"<p>{_e(op['description'])}</p>")
    params = op.get("parameters", [])
    if params:
        rows = "".join(
            f"<tr><td><code>{_e(p['name'])}</code></td><td>{_e(p['in'])}</td>"
            f"<td>{'yes' if p.get('required') else ''}</td><td>{_e(p.get('description', ''))}</td></tr>"
            for p in params
        )
        parts.append(
            f"<table><tr><th>parameter</th><th>in</th><th>required</th><th>description</th></tr>{rows}</table>"
        )
    for media, content in op.get("requestBody", {}).get("content", {}).items():
        parts.append(f"<p>Body <code>{_e(media)}</code>:</p>{_fields(content.get('schema', {}), spec)}")
    errors = [(s, r.get("description", "")) for s, r in op.get("responses", {}).items() if s[:1] in ("4", "5")]
    if errors:
        items = "".join(f"<li>{_e(status)}: <code>{_e(codes)}</code></li>" for status, codes in sorted(errors))
        parts.append(f"<p>Errors (<code>detail</code> codes):</p><ul>{items}</ul>")
    return "".join(parts) + "</div>"


def render(spec: dict[str, Any]) -> str:
    """The whole reference page for an OpenAPI document."""
    by_tag: dict[str, list[str]] = {}
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                tag = (item[method].get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation(method, path, item[method], spec))
    nav = " ".join(f'<a href="#tag-{_e(t)}">{_e(t)}</a>' for t in by_tag)
    sections = "".join(f'<h2 id="tag-{_e(t)}">{_e(t)}</h2>{"".join(ops)}' for t, ops in by_tag.items())
    intro = (
        '<p>Every error answers <code>{"detail": "&lt;code&gt;", "message": "..."}</code>; validation '
        "errors add <code>fields</code> and <code>problems</code>. The machine-readable description is "
        '<a href="openapi.json">openapi.json</a>; the API guide (coordinates, jobs, dataset layouts, a '
        "quick-start) is <code>docs/api-guide.md</code> in the repository.</p>"
    )
    title = _e(f"{spec['info']['title']} {spec['info']['version']}")
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title} API</title>"
        f"<style>{STYLE}</style></head><body><h1>{title} API</h1>{intro}<nav>{nav}</nav>{sections}</body></html>"
    )


router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
@router.get("/redoc", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """The API reference (HTML, self-contained)."""
    app: FastAPI = request.app
    return HTMLResponse(render(app.openapi()))


root_router = APIRouter(include_in_schema=False)


@root_router.get("/")
def root() -> RedirectResponse:
    """No UI folder is served: point to the API reference."""
    return RedirectResponse("/docs")

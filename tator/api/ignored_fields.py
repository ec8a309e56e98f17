"""Unknown JSON body fields are ignored, never silently: the answer names them.

The frontend sends fields this server may not model, so an unknown top-level field is not refused; but a
typo (`bbox` for `bbox_xyxy`) must not pass unnoticed. Every JSON-body route is wrapped: when the body
carries top-level keys its model does not know, a JSON object answer gains `ignored_fields` (and, when
it has a `warnings` list, the warning `ignored_fields`), and every answer carries the header
`X-Tator-Ignored-Fields`. Models that forbid extra fields refuse them (422) before this matters.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tator.api.validation import body_model

HEADER = b"x-tator-ignored-fields"
WARNING = "ignored_fields"


def known_fields(model: type[BaseModel]) -> frozenset[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                names.add(alias)
    return frozenset(names)


def unknown_keys(body: bytes, known: frozenset[str]) -> list[str]:
    """Top-level keys of a JSON object body that the model does not know (none for anything else)."""
    if not body.lstrip().startswith(b"{"):
        return []
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []  # the route's own validation answers json_invalid
    if not isinstance(parsed, dict):
        return []
    return sorted(str(k)[:100] for k in parsed if k not in known)[:50]


def with_notice(body: bytes, ignored: list[str]) -> bytes:
    """The answer with `ignored_fields` added (only when it is a JSON object)."""
    try:
        answer = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return body
    if not isinstance(answer, dict):
        return body
    answer["ignored_fields"] = ignored
    if "warnings" in answer and (answer["warnings"] is None or isinstance(answer["warnings"], list)):
        answer["warnings"] = [*(answer["warnings"] or []), WARNING]
    return json.dumps(answer, separators=(",", ":")).encode()


class IgnoredFieldsMiddleware:
    """Pure ASGI middleware (see the module docstring). The JSON body is copied as the route reads it
    (up to `max_capture` bytes; a larger body gets no notice) and checked against the matched route's
    model once the answer starts."""

    def __init__(self, app: ASGIApp, max_capture: int = 64 * 1024 * 1024) -> None:
        self.app = app
        self.max_capture = max_capture

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH") or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        captured = bytearray()
        overflow = False

        async def tee() -> Message:
            nonlocal overflow
            message = await receive()
            if message["type"] == "http.request" and not overflow:
                captured.extend(message.get("body", b""))
                if len(captured) > self.max_capture:
                    overflow = True
                    captured.clear()
            return message

        def ignored() -> list[str]:
            model = body_model(scope.get("route"))
            if overflow or model is None or model.model_config.get("extra") == "forbid":
                return []
            return unknown_keys(bytes(captured), known_fields(model))

        await self.app(scope, tee, _NoticeSender(send, ignored))


class _NoticeSender:
    def __init__(self, send: Send, ignored: Callable[[], list[str]]) -> None:
        self.send = send
        self.find_ignored = ignored
        self.ignored: list[str] = []
        self.start: Message | None = None
        self.chunks: list[bytes] = []
        self.is_json = False
        self.send_through = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.ignored = self.find_ignored()
            if not self.ignored:
                self.send_through = True
            if self.send_through:
                await self.send(message)
                return
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
            self.start = {**message, "headers": [*headers, (HEADER, ",".join(self.ignored).encode())]}
            self.is_json = any(k.lower() == b"content-type" and b"json" in v for k, v in headers)
            return
        if self.send_through or message["type"] != "http.response.body" or self.start is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        if self.is_json and self.start["status"] < 300:
            body = with_notice(body, self.ignored)
        start = self.start
        start["headers"] = [*start["headers"], (b"content-length", str(len(body)).encode())]
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body})


def _is_json(scope: Scope) -> bool:
    for key, value in scope.get("headers", []):
        if key.lower() == b"content-type":
            media = bytes(value).split(b";", 1)[0].strip().lower()
            return media == b"application/json" or media.endswith(b"+json")
    return False


def install_ignored_fields_notice(app: FastAPI) -> None:
    """Add the middleware (it finds each request's route and body model itself)."""
    app.add_middleware(IgnoredFieldsMiddleware)

"""Pure ASGI middleware (no BaseHTTPMiddleware, so streaming and SSE responses pass untouched)."""

from __future__ import annotations

import hmac
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tator.api.errors import unexpected_error_response
from tator.api.guards import header, query_token_allowed, refuse
from tator.api.metrics import HttpMetrics
from tator.errors import AuthInvalid, AuthRequired
from tator.logging import request_id_var
from tator.runtime import timing

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives each request an id (echoed as X-Request-ID, attached to log records), records metrics and
    answers with a `Server-Timing` header: the phases the request's code timed (`tator.runtime.timing`,
    e.g. `infer` for a detector's forward pass) and `app`, the time until the answer started.

    It also answers an unexpected error with the 500 envelope itself and ends the request normally, so
    the keep-alive connection stays usable (Starlette's outermost handler re-raises after answering, and
    uvicorn then closes the connection under the client's next request). An error after the answer has
    started (a stream that fails) still propagates: the connection must close so the client sees it."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        timings, timings_token = timing.begin()
        scope["tator.request_id"] = request_id  # read by the 500 handler, which runs outside this middleware
        started = time.perf_counter()
        status = 500
        status_sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = int(message["status"]), True
                message.setdefault("headers", [])
                server_timing = timings.header(app=time.perf_counter() - started)
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                    (b"server-timing", server_timing),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status_sent:
                raise
            await unexpected_error_response(request_id, exc)(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.observe(scope.get("method", "GET"), template, status, time.perf_counter() - started)
            timing.end(timings_token)
            request_id_var.reset(token)


class TokenAuthMiddleware:
    """When an API token is configured, every request but the public ones must carry it as
    `Authorization: Bearer <token>` or `X-API-Token: <token>`; `?token=` only on event streams and downloads
    (GET), where a browser cannot send a header."""

    def __init__(self, app: ASGIApp, token: str, is_public: Callable[[Scope], bool]) -> None:
        self.app = app
        self.token = token.encode()
        self.is_public = is_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "OPTIONS" or self.is_public(scope):
            await self.app(scope, receive, send)
            return
        offered = self._offered(scope)
        if offered is not None and hmac.compare_digest(offered.encode(), self.token):
            await self.app(scope, receive, send)
            return
        error = (
            AuthRequired("this server requires an API token")
            if offered is None
            else AuthInvalid("the API token is not valid")
        )
        await refuse(send, error, [(b"www-authenticate", b"Bearer")])

    @staticmethod
    def _offered(scope: Scope) -> str | None:
        authorization = header(scope, b"authorization")
        if authorization and authorization.lower().startswith("bearer "):
            return authorization[7:].strip()
        named = header(scope, b"x-api-token")
        if named:
            return named.strip()
        if not query_token_allowed(scope["method"], scope["path"]):
            return None
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        values = query.get("token")
        return values[0] if values else None

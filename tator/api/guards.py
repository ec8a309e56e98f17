"""Request guards (pure ASGI): which Host names, which page origins, which paths need no token.

- Host: a DNS-rebinding page reaches the server under the attacker's own domain name, so only names the
  server is known by are served: `localhost` (and `*.localhost`), IP literals (a rebinding page cannot make a
  browser send one), the name it is bound to, and `TATOR_ALLOWED_HOSTS`. Anything else is 400 `host_not_allowed`.
- Origin: a page on another site can send "simple" cross-site POSTs that CORS does not stop (it only hides
  the answer). A state-changing request whose `Origin` (or, without one, `Referer`) names a site that is not an
  allowed origin, nor the server itself, is 403 `origin_not_allowed`. Clients that send neither (curl, httpx,
  scripts) are not affected.
- Public paths: without a token only `/healthz`, the API reference pages (`/docs`, `/redoc` and their bundled
  assets) and the static UI's own files are served; a path any API route matches is never public, whatever
  file it may name after normalisation.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from tator.errors import HostNotAllowed, OriginNotAllowed, TatorError
from tator.storage.paths import PathGuard

LOCALHOST_ORIGINS = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::", "[::]"})
QUERY_TOKEN_ENDPOINTS = frozenset({"events", "download", "download_zip", "crop_zip_finalize", "openapi.json"})


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (latin-1, as HTTP sends it), or None."""
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def media_type(scope: Scope) -> str:
    """The request's media type, lower-case and without parameters (`application/json`), or ""."""
    return (header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()


async def refuse(send: Send, error: TatorError, extra_headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer with the error envelope from middleware (outside the app's exception handlers)."""
    body = json.dumps({"detail": error.code, "message": error.message, **error.details}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra_headers]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _host_name(host: str) -> str:
    """`Host` header -> lower-case name without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostPolicy:
    """The Host names this server answers to."""

    def __init__(self, bind_host: str, allowed: Iterable[str]) -> None:
        names = {_host_name(h) for h in allowed if h.strip()}
        bind = _host_name(bind_host)
        if bind not in _WILDCARD_BINDS:
            names.add(bind)
        self.any = "*" in names
        self.names = names - {"*"}

    def allows(self, host: str | None) -> bool:
        if host is None or self.any:
            return True  # no Host header: not a browser, so not a rebinding page
        name = _host_name(host).rstrip(".")
        return name in self.names or name == "localhost" or name.endswith(".localhost") or _is_ip(name)


class OriginPolicy:
    """The page origins that may send state-changing requests: the CORS origins, and the server itself."""

    def __init__(self, origins: Sequence[str], *, allow_null: bool) -> None:
        self.origins = {o.rstrip("/").lower() for o in origins}
        self.pattern = None if origins else re.compile(LOCALHOST_ORIGINS)
        self.allow_null = allow_null

    def allows(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin == "null":
            return self.allow_null
        if origin in self.origins or (self.pattern is not None and self.pattern.match(origin)):
            return True
        parts = urllib.parse.urlsplit(origin)
        return host is not None and parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()


def _origin_of(scope: Scope) -> str | None:
    origin = header(scope, b"origin")
    if origin is not None:
        return origin
    referer = header(scope, b"referer")
    if not referer:
        return None
    parts = urllib.parse.urlsplit(referer)
    return (
        f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}" if parts.scheme else "null"
    )


class RequestGuardMiddleware:
    """Refuses requests for unknown Host names (400) and state-changing cross-site requests (403)."""

    def __init__(self, app: ASGIApp, hosts: HostPolicy, origins: OriginPolicy) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host = header(scope, b"host")
        if not self.hosts.allows(host):
            shown = (host or "")[:100]
            await refuse(send, HostNotAllowed(f"this server does not answer to {shown!r}", host=shown))
            return
        origin = _origin_of(scope)
        if scope.get("method", "GET") not in SAFE_METHODS and origin is not None:
            if not self.origins.allows(origin, host):
                shown = origin[:100]
                await refuse(send, OriginNotAllowed(f"requests from {shown!r} may not change state", origin=shown))
                return
        await self.app(scope, receive, send)


def query_token_allowed(method: str, path: str) -> bool:
    """`?token=` is accepted only where a client cannot send a header: event streams, downloads and the
    schema the API reference page fetches (GET)."""
    return method in ("GET", "HEAD") and path.rstrip("/").rsplit("/", 1)[-1] in QUERY_TOKEN_ENDPOINTS


class PublicPaths:
    """Requests that need no token: the liveness probe, the API reference pages and their bundles
    (`pages`, `prefix`), and the static UI's own files; never an API path."""

    def __init__(
        self,
        ui_dir: Path | None,
        routes: Callable[[], Iterable[Any]],
        *,
        pages: frozenset[str] = frozenset(),
        prefix: str | None = None,
    ) -> None:
        self.ui_dir = PathGuard(ui_dir) if ui_dir is not None else None
        self.routes = routes
        self.pages = pages
        self.prefix = prefix

    def __call__(self, scope: Scope) -> bool:
        path, method = scope["path"], scope.get("method", "GET")
        if path == "/healthz":
            return True
        if method in ("GET", "HEAD") and (path in self.pages or (self.prefix and _plain_under(path, self.prefix))):
            return True
        if self.ui_dir is None or method not in ("GET", "HEAD") or self._is_api(scope):
            return False
        if path == "/":
            return True
        try:
            return self.ui_dir.relative(path.lstrip("/")).is_file()  # the one path guard, rooted at the UI folder
        except TatorError:
            return False

    def _is_api(self, scope: Scope) -> bool:
        for route in self.routes():
            if getattr(route, "name", None) == "ui":
                continue
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return True
        return False


def _plain_under(path: str, prefix: str) -> bool:
    """`path` names a file under `prefix` without climbing out of it (no dot segments, no encoded ones)."""
    if not path.startswith(prefix):
        return False
    rest = path[len(prefix) :]
    return bool(rest) and "%" not in rest and all(part not in ("", ".", "..") for part in rest.split("/"))

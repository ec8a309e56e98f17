"""`/docs` (Swagger UI) and `/redoc` (ReDoc) served from assets bundled with the server: no CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN and are blank offline. The `fastapi-offline`
package ships both bundles; they are served under `/docs/assets` and the pages point only there and at
`/openapi.json` (Swagger UI's online validator badge is off: it would call out). `GET /` points to `/docs`
when no UI folder is served.
"""

from __future__ import annotations

import urllib.parse
from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
# With TATOR_API_TOKEN set these stay public: static pages and bundles that say nothing about this server.
# The schema stays behind the token; open `/docs?token=<token>` and the page fetches it with that token.
PUBLIC_PAGES = frozenset({"/docs", "/redoc", OAUTH2_REDIRECT_URL})
PUBLIC_PREFIX = ASSETS_URL + "/"
DESCRIPTION = (
    'Every error answers `{"detail": "<code>", "message": "..."}`; validation errors add `fields` and '
    "`problems`. The API guide (coordinate conventions, jobs and event streams, dataset layouts, error-code "
    "table, a quick-start) is `docs/api-guide.md` in the repository."
)


@cache
def assets_dir() -> Path:
    """The folder of Swagger UI and ReDoc bundles installed with `fastapi-offline`."""
    return Path(fastapi_offline.__file__).parent / "static"


def _asset(request: Request, name: str) -> str:
    return f"{request.scope.get('root_path', '')}{ASSETS_URL}/{name}"


def _openapi_url(request: Request) -> str:
    """Where the page fetches the schema; a `?token=` the page was opened with is passed on (quoted, so it
    cannot break out of the page's script), since a browser cannot add a header to that fetch."""
    app: FastAPI = request.app
    url = f"{request.scope.get('root_path', '')}{app.openapi_url}"
    token = request.query_params.get("token")
    return f"{url}?token={urllib.parse.quote(token, safe='')}" if token else url


router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI over /openapi.json, from local assets."""
    app: FastAPI = request.app
    return get_swagger_ui_html(
        openapi_url=_openapi_url(request),
        title=f"{app.title} API",
        oauth2_redirect_url=OAUTH2_REDIRECT_URL,
        swagger_js_url=_asset(request, "swagger-ui-bundle.js"),
        swagger_css_url=_asset(request, "swagger-ui.css"),
        swagger_favicon_url=_asset(request, "favicon.png"),
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT_URL, response_class=HTMLResponse)
def swagger_ui_oauth2_redirect() -> HTMLResponse:
    """Swagger UI's OAuth2 redirect helper page (inline, no external asset)."""
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", response_class=HTMLResponse)
def redoc(request: Request) -> HTMLResponse:
    """ReDoc over /openapi.json, from local assets (no web fonts)."""
    app: FastAPI = request.app
    return get_redoc_html(
        openapi_url=_openapi_url(request),
        title=f"{app.title} API",
        redoc_js_url=_asset(request, "redoc.standalone.js"),
        redoc_favicon_url=_asset(request, "favicon.png"),
        with_google_fonts=False,
    )


def install_docs(app: FastAPI) -> None:
    """Add the two pages and their assets; call before any catch-all mount at `/`."""
    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=assets_dir()), name="docs-assets")


root_router = APIRouter(include_in_schema=False)


@root_router.get("/")
def root() -> RedirectResponse:
    """No UI folder is served: point to the API reference."""
    return RedirectResponse("/docs")

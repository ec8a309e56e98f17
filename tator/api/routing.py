"""The router every domain uses: FastAPI's APIRouter that turns away, with one set lookup, a path whose
first segment none of its routes can match.

FastAPI 0.165 matches included routers by walking every route of every router listed before the one
that matches, once per nesting level and again to dispatch: 1.2 ms of a `/yolo/predict_full` request and
3.1 ms of a request to the last router (calibration) on the development machine, measured in
docs/benchmarks.md. A router that knows the first path segments of its routes ("yolo", "sam_point", ...)
answers `Match.NONE` for any other path before FastAPI walks it, so a request only walks the routers that
share its first segment. Matching itself, partial matches (405) and route order are FastAPI's, unchanged.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from tator.api.ignored_fields import NoticingRoute


def route_path(scope: Scope) -> str:
    """The path routes match against: the request path without the app's root path (as Starlette does)."""
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root) :] if root and path.startswith(root) else path


def first_segment(path: str) -> str:
    """ "/yolo/predict_full" -> "yolo"; "/" -> ""."""
    return path.lstrip("/").split("/", 1)[0]


class IndexedRouter(APIRouter):
    """An APIRouter with a first-segment index. Include other routers into it without a prefix (their
    routes' paths must be what the index reads); a prefix is refused rather than mis-indexed. Its routes
    are `NoticingRoute`s: unknown JSON body fields are named in the answer (tator/api/ignored_fields.py)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", NoticingRoute)
        super().__init__(*args, **kwargs)
        self._index: frozenset[str] | None = None
        self._index_size = -1

    def include_router(self, router: APIRouter, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("prefix") or (args and args[0]):
            raise ValueError("an IndexedRouter includes routers without a prefix: give the router its own prefix")
        super().include_router(router, *args, **kwargs)

    def segments(self) -> frozenset[str] | None:
        """The first segments of every route's path, here and in included routers; None (no index) when
        a route's first segment is a path parameter or cannot be read. Rebuilt when routes are added."""
        if self._index_size != len(self.routes):
            self._index = _segments_of(self.routes)
            self._index_size = len(self.routes)
        return self._index

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        index = self.segments()
        if index is not None and scope.get("type") in ("http", "websocket"):
            if first_segment(route_path(scope)) not in index:
                return Match.NONE, {}
        return super().matches(scope)


def _segments_of(routes: list[BaseRoute]) -> frozenset[str] | None:
    found: set[str] = set()
    for route in routes:
        nested = getattr(route, "original_router", None)  # FastAPI's wrapper of an included router
        if nested is not None:
            inner = nested.segments() if isinstance(nested, IndexedRouter) else None
            if inner is None:
                return None
            found |= inner
            continue
        path = getattr(route, "path", None)
        if not isinstance(path, str):
            return None
        segment = first_segment(path)
        if "{" in segment:
            return None
        found.add(segment)
    return frozenset(found)

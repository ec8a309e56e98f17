"""The first-segment index in front of FastAPI's router matching (tator/api/routing.py)."""

from __future__ import annotations

import threading

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from tator.api import api_routers
from tator.api.routing import IndexedRouter, first_segment


def _scope(path: str, method: str = "GET") -> dict[str, object]:
    return {"type": "http", "path": path, "method": method, "root_path": ""}


def test_first_segment() -> None:
    assert first_segment("/yolo/predict_full") == "yolo"
    assert first_segment("/sam_point") == "sam_point"
    assert first_segment("/") == ""


def test_every_domain_router_is_indexed() -> None:
    """The speed-up only holds while every router can say which paths it cannot match."""
    for router in api_routers():
        assert isinstance(router, IndexedRouter), router
        assert router.segments(), f"{router.prefix or router.routes[0]}: no index"


def test_a_router_refuses_paths_outside_its_segments_but_keeps_fastapi_matching() -> None:
    router = IndexedRouter(prefix="/things")

    @router.get("/{thing_id}")
    def get_thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    @router.post("/make")
    def make() -> dict[str, bool]:
        return {"made": True}

    assert router.segments() == frozenset({"things"})
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/things/a1").json() == {"id": "a1"}
        assert client.post("/things/make").json() == {"made": True}
        assert client.put("/things/make").status_code == 405  # a partial match is still FastAPI's 405
        assert client.get("/other/a1").status_code == 404
    # Nothing under "other" is matched, whatever FastAPI would have walked.
    assert router.matches(_scope("/other/a1"))[0] == Match.NONE


def test_the_index_follows_routes_added_later_and_nested_routers() -> None:
    outer, inner = IndexedRouter(), IndexedRouter(prefix="/inner")

    @inner.get("/x")
    def x() -> dict[str, int]:
        return {"x": 1}

    outer.include_router(inner)
    assert outer.segments() == frozenset({"inner"})

    @outer.get("/late")
    def late() -> dict[str, int]:
        return {"late": 1}

    assert outer.segments() == frozenset({"inner", "late"})
    app = FastAPI()
    app.include_router(outer)
    with TestClient(app) as client:
        assert client.get("/inner/x").json() == {"x": 1}
        assert client.get("/late").json() == {"late": 1}


def test_a_parameter_in_the_first_segment_turns_the_index_off() -> None:
    router = IndexedRouter()

    @router.get("/{anything}")
    def anything(anything: str) -> dict[str, str]:
        return {"got": anything}

    assert router.segments() is None
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as client:
        assert client.get("/whatever").json() == {"got": "whatever"}


def test_including_with_a_prefix_is_refused() -> None:
    """The index reads route paths; a prefix added at include time would make it refuse real paths."""
    with pytest.raises(ValueError, match="prefix"):
        IndexedRouter().include_router(IndexedRouter(), prefix="/x")


def test_the_app_still_routes_first_middle_and_last_routers(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200  # system, first
    assert client.get("/yolo/runs").status_code == 200  # a middle one
    assert client.get("/calibration/jobs").status_code == 200  # the last one
    assert client.get("/yolo/predict_full").status_code == 405
    assert client.get("/nowhere/at/all").status_code == 404


def test_the_runs_dependency_never_waits_for_the_zoo_build(client: TestClient) -> None:
    """`state.shared` runs on the event loop; it must not share the lock held while the tiny zoo builds."""
    state = client.app.state.tator  # type: ignore[attr-defined]
    built: list[object] = []
    with state._base_lock:  # as while base_models() builds the tiny zoo
        worker = threading.Thread(target=lambda: built.append(state.shared("probe", object)))
        worker.start()
        worker.join(timeout=5)
    assert built, "state.shared waited for the zoo lock"
    assert state.shared("probe", object) is built[0]  # one object per key

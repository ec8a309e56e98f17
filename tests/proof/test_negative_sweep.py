"""The negative sweep (issue 14): every templated route of the OpenAPI schema called with missing, traversal,
encoded, oversized and non-UTF-8 ids, and every body route with an empty and a malformed body. No answer is a
5xx or carries a traceback, nothing outside the data directory is read or written, and no job starts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.proof.sweep import Route, Sandbox, problem, routes, sandbox

# Values sent in place of every path parameter (already percent-encoded where the raw form would change the URL).
HOSTILE_IDS: dict[str, str] = {
    "missing": "",
    "blank": "%20",
    "dot": ".",
    "dotdot": "..",
    "traversal_encoded_slash": "..%2F..",
    "traversal_passwd": "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "traversal_canary": "..%2F..%2F..%2F..%2Fcanary.txt",
    "traversal_canary_backslash": "..%5C..%5C..%5C..%5Ccanary.txt",
    "absolute": "%2Fetc%2Fpasswd",
    "double_encoded": "%252e%252e%252fcanary.txt",
    "encoded_dots": "%2e%2e",
    "null_byte": "abc%00def",
    "newline": "abc%0Adef",
    "oversized": "a" * 10_000,
    "non_utf8": "%FF%FE%FD",
    "latin1": "caf%E9",
    "unicode": "%E2%80%AE%F0%9F%98%80",
    "glob": "%2A",
}
MALFORMED: dict[str, tuple[bytes, str]] = {
    "application/json": (b'{"unterminated": [1, 2', "application/json"),
    "multipart/form-data": (b"--x\r\nContent-Disposition: form-data\r\n\r\n\xff", "multipart/form-data; boundary=x"),
    "application/x-www-form-urlencoded": (b"%zz=%ff&&==", "application/x-www-form-urlencoded"),
    "application/octet-stream": (b"\x00" * 64, "application/octet-stream"),
}


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, tiny_zoo_dir: Path, tiny_zoo: dict[str, Path]) -> Iterator[Sandbox]:
    assert tiny_zoo
    with sandbox(tmp_path_factory.mktemp("sweep"), tiny_zoo_dir) as made:
        yield made


@pytest.fixture(scope="module")
def all_routes(box: Sandbox) -> list[Route]:
    found = routes(box.client.get("/openapi.json").json())
    assert len(found) > 100  # the whole API, not an empty schema
    return found


def _call(box: Sandbox, route: Route, url: str, content: bytes | None = None, ctype: str | None = None) -> str | None:
    headers = {"content-type": ctype} if ctype else {}
    try:
        response = box.client.request(route.method, url, content=content, headers=headers, timeout=60)
    except httpx.HTTPError as exc:  # the client refused to send it (an id it cannot put in a URL): nothing reached us
        return None if isinstance(exc, httpx.InvalidURL) else f"{type(exc).__name__}: {exc}"
    found = problem(response)
    return None if found is None else f"{route.method} {url[:120]}: {found}"


def _assert_contained(box: Sandbox, before: dict[str, float], failures: list[str]) -> None:
    assert failures == [], "\n".join(failures[:40])
    assert box.outside_files() == before, "a file outside the data directory was written"
    jobs = box.client.get("/jobs").json()["items"]
    assert jobs == [], f"a hostile request started a job: {jobs}"


def test_every_templated_route_refuses_hostile_ids(box: Sandbox, all_routes: list[Route]) -> None:
    templated = [r for r in all_routes if r.params]
    assert len(templated) > 40
    before = box.outside_files()
    failures = []
    for route in templated:
        for value in HOSTILE_IDS.values():
            failure = _call(box, route, route.url(value))
            if failure:
                failures.append(failure)
    _assert_contained(box, before, failures)


def test_every_body_route_refuses_empty_and_malformed_bodies(box: Sandbox, all_routes: list[Route]) -> None:
    with_body = [r for r in all_routes if r.body]
    assert len(with_body) > 40
    before = box.outside_files()
    failures = []
    for route in with_body:
        url = route.url("sweep-id")
        malformed, ctype = MALFORMED.get(route.body or "", (b"\xff\xfe\x00garbage", route.body or ""))
        for content, content_type in ((None, None), (b"", ctype), (malformed, ctype), (b"[]", "application/json")):
            failure = _call(box, route, url, content, content_type)
            if failure:
                failures.append(failure)
    _assert_contained(box, before, failures)


def test_the_sweep_checks_catch_what_they_look_for() -> None:
    """The checks above can fail: a 5xx, a traceback and a leaked file are each reported; a 4xx is clean."""
    assert problem(httpx.Response(404, json={"detail": "dataset_not_found"})) is None
    assert problem(httpx.Response(500, json={"detail": "internal"})) is not None
    assert problem(httpx.Response(400, text='Traceback (most recent call last):\n  File "/x.py"')) is not None
    assert problem(httpx.Response(200, text="tator-canary-3f9c1e")) is not None
    assert problem(httpx.Response(200, text="root:x:0:0:root:/root:/bin/bash")) is not None

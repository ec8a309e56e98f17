"""A bounded property-based run (schemathesis) against the app's /openapi.json: requests generated from every
operation's schema, valid and invalid, none answered with a 5xx or a traceback. Routes that queue a job are left
out (a valid body would start a training); the negative sweep covers their refusals.

Driven through schemathesis' Python API (`from_asgi`, `as_strategy`) rather than its pytest plugin, whose lazy
fixture loader reads a node attribute pytest 9 no longer has."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode

from tests.proof.sweep import JOB_START, Sandbox, problem, sandbox

# Per operation and mode: ~150 operations (invalid bodies too for ~70) took 50 s at 3 examples and 127 s at 6 on a
# busy 2-core box; the target is under two minutes.
MAX_EXAMPLES = 4
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests every run: a failure reproduces
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the first bad request is reported as it was
    suppress_health_check=list(HealthCheck),
)


# Raw-body routes (a recipe zip posted as `application/zip`) get arbitrary bytes: mostly not a zip at all.
schemathesis.openapi.media_type("application/zip", st.binary(max_size=4096))


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory, tiny_zoo_dir: Path, tiny_zoo: dict[str, Path]) -> Iterator[Sandbox]:
    assert tiny_zoo
    with sandbox(tmp_path_factory.mktemp("property"), tiny_zoo_dir) as made:
        yield made


def _run_operation(operation: Any, mode: GenerationMode, calls: list[int]) -> list[str]:
    failures: list[str] = []

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        response = case.call(headers={"host": "testserver"})
        calls.append(response.status_code)
        found = problem(response)
        if found is not None:
            failures.append(f"{case.method} {case.formatted_path} ({mode.value}): {found}")

    try:
        check()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
        assert mode is GenerationMode.NEGATIVE
    return failures


def _modes(operation: Any) -> tuple[GenerationMode, ...]:
    """Invalid requests are generated for body routes only: invalid path parameters are the negative sweep's
    (and generating them costs hypothesis several seconds per route)."""
    has_body = bool(operation.definition.raw.get("requestBody"))
    return (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if has_body else (GenerationMode.POSITIVE,)


def test_no_generated_request_gets_a_server_error(box: Sandbox) -> None:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", box.client.app)
    schema = loaded.exclude(method="POST", path_regex=JOB_START.pattern)
    operations = [result.ok() for result in schema.get_all_operations() if isinstance(result, Ok)]
    assert len(operations) > 100
    failures: list[str] = []
    calls: list[int] = []
    for operation in operations:
        for mode in _modes(operation):
            failures += _run_operation(operation, mode, calls)
    assert failures == [], "\n".join(failures[:40])
    assert len(calls) > 3 * len(operations)  # the run really sent requests, valid ones among them
    assert sum(200 <= code < 300 for code in calls) > len(operations) // 2
    assert box.client.get("/jobs").json()["items"] == [], "the property run started a job"

"""Per-request phase timings (the Server-Timing header's content)."""

from __future__ import annotations

import contextvars
import threading

import pytest

from tator.runtime import timing


def test_phases_add_up_and_render_as_server_timing() -> None:
    timings = timing.Timings()
    timings.add("infer", 0.010)
    timings.add("infer", 0.0025)
    timings.add("encode", 0.001)
    header = timings.header(app=0.020).decode()
    assert header == 'infer;desc="2 calls";dur=12.50, encode;dur=1.00, app;dur=20.00'
    assert timings.seconds("infer") == pytest.approx(0.0125)
    assert timings.seconds("decode") is None


@pytest.mark.parametrize("name", ["", "two words", 'x";dur=1', "dur,app", "é"])
def test_a_metric_name_must_be_a_token(name: str) -> None:
    with pytest.raises(ValueError, match="token"):
        timing.Timings().add(name, 0.001)


def test_timed_records_into_the_current_request_only() -> None:
    with timing.timed("infer"):
        pass  # no request: nothing to record into, and no error
    timings, token = timing.begin()
    try:
        with timing.timed("infer"):
            pass
        with pytest.raises(RuntimeError), timing.timed("decode"):
            raise RuntimeError("a failed phase still counts")
    finally:
        timing.end(token)
    with timing.timed("after"):
        pass
    assert timings.seconds("infer") is not None and timings.seconds("decode") is not None
    assert timings.seconds("after") is None


def test_a_worker_thread_with_the_request_context_records_into_the_same_collector() -> None:
    """Routes run on a thread pool with a copy of the request's context (as Starlette does)."""
    timings, token = timing.begin()
    try:
        context = contextvars.copy_context()

        def work() -> None:
            with timing.timed("infer"):
                pass

        thread = threading.Thread(target=context.run, args=(work,))
        thread.start()
        thread.join()
        unrelated = threading.Thread(target=work)  # a job's thread: a fresh context, records nothing here
        unrelated.start()
        unrelated.join()
    finally:
        timing.end(token)
    assert "infer;dur=" in timings.header().decode()

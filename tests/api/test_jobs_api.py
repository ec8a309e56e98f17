from __future__ import annotations

import json
import time
from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel

from tator.jobs.context import JobContext
from tator.jobs.manager import JobManager


class Params(BaseModel):
    steps: int = 3
    delay: float = 0.05


def stepping(params: Params, ctx: JobContext) -> dict[str, int]:
    for i in range(params.steps):
        ctx.checkpoint()
        ctx.progress((i + 1) / params.steps, f"step {i + 1}")
        time.sleep(params.delay)
    return {"steps": params.steps}


def jobs_of(client: TestClient) -> JobManager:
    return client.app.state.tator.jobs  # type: ignore[attr-defined, no-any-return]


def test_get_list_and_cancel_over_http(client: TestClient) -> None:
    jobs = jobs_of(client)
    done = jobs.submit("demo.steps", stepping, Params(steps=2, delay=0.0))
    jobs.wait(done.job_id, 5)
    long = jobs.submit("demo.steps", stepping, Params(steps=10_000, delay=0.01))
    body = client.get(f"/jobs/{done.job_id}").json()
    assert body["status"] == "succeeded" and body["result"] == {"steps": 2} and body["progress"] == 1.0
    listing = client.get("/jobs", params={"kind": "demo.steps"}).json()
    assert listing["total"] == 2 and {j["job_id"] for j in listing["items"]} == {done.job_id, long.job_id}
    cancelled = client.post(f"/jobs/{long.job_id}/cancel").json()
    assert cancelled["status"] in ("cancelling", "cancelled")
    assert jobs.wait(long.job_id, 5).status == "cancelled"
    again = client.post(f"/jobs/{long.job_id}/cancel")
    assert (again.status_code, again.json()["detail"]) == (409, "job_not_cancellable")
    missing = client.get("/jobs/doesnotexist")
    assert (missing.status_code, missing.json()["detail"]) == (404, "job_not_found")


def test_events_stream_progress_until_end(client: TestClient) -> None:
    record = jobs_of(client).submit("demo.steps", stepping, Params(steps=4, delay=0.1))
    events: list[tuple[str, dict[str, object]]] = []
    with client.stream("GET", f"/jobs/{record.job_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))
    assert events[-1][0] == "end" and events[-1][1]["status"] == "succeeded"
    progresses = [float(str(data["progress"])) for name, data in events if name == "progress"]
    assert progresses == sorted(progresses) and len(progresses) >= 2
    assert client.get("/jobs/nope/events").status_code == 404


def logging_steps(params: Params, ctx: JobContext) -> dict[str, int]:
    for i in range(params.steps):
        ctx.log(f"line {i}")
        ctx.metric("loss", i, 1.0 / (i + 1))
        ctx.progress((i + 1) / params.steps)
        time.sleep(params.delay)
    return {"steps": params.steps}


def test_events_send_only_new_log_lines_and_metric_points(client: TestClient) -> None:
    record = jobs_of(client).submit("demo.logging", logging_steps, Params(steps=6, delay=0.3))
    events: list[dict[str, Any]] = []
    with client.stream("GET", f"/jobs/{record.job_id}/events") as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert len(events) >= 3 and all("metrics" not in e and "logs" not in e for e in events)
    lines = [entry["message"] for e in events for entry in e["new_logs"]]
    steps = [point["step"] for e in events for point in e["new_metrics"].get("loss", [])]
    assert lines == [f"line {i}" for i in range(6)]  # each line exactly once, in order
    assert steps == [float(i) for i in range(6)]
    assert max(len(e["new_logs"]) for e in events) < 6  # spread over several events, not re-sent

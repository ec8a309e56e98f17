"""What a large JSON body costs the server beyond FastAPI's own parse of it.

    python tools/bench/json_body.py [--mb 10] [--requests 25]

Each request is `POST /yolo/predict_full` with an unknown `image_token` and a `junk` field of `--mb` MB, in
process (Starlette's TestClient): Tator answers 404 `image_token_not_found` with `junk` named in
`X-Tator-Ignored-Fields`. Baseline in the same run: a bare FastAPI app with the same request model and a
route that answers 404 at once, so the difference is Tator's middleware, limits and notice on that body.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from tator.api.detector_schemas import YoloPredictRequest  # noqa: E402
from tator.app import create_app  # noqa: E402
from tator.settings import Settings  # noqa: E402


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.post("/yolo/predict_full")
    def predict_full(body: YoloPredictRequest) -> dict[str, Any]:  # noqa: ARG001 - parsed and validated, as in Tator
        raise HTTPException(404, "image_token_not_found")

    return app


def median_ms(client: TestClient, body: bytes, requests: int) -> float:
    times = []
    for _ in range(requests + 3):
        started = time.perf_counter()
        response = client.post("/yolo/predict_full", content=body, headers={"content-type": "application/json"})
        times.append(time.perf_counter() - started)
        assert response.status_code == 404, response.text
    return statistics.median(times[3:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=10)
    parser.add_argument("--requests", type=int, default=25)
    args = parser.parse_args()
    body = json.dumps({"image_token": "0" * 32, "junk": "A" * int(args.mb * 1024 * 1024)}).encode()
    settings = Settings(
        data_dir=Path(tempfile.mkdtemp(prefix="tator-bench-json-")) / "data",
        device="cpu",
        log_level="WARNING",
        allowed_hosts=["testserver"],
    )
    with TestClient(create_app(settings)) as tator, TestClient(bare_app()) as bare:
        noticed = tator.post("/yolo/predict_full", content=body, headers={"content-type": "application/json"})
        assert noticed.headers.get("x-tator-ignored-fields") == "junk", noticed.headers
        rounds = [(median_ms(tator, body, args.requests), median_ms(bare, body, args.requests)) for _ in range(3)]
    ours, base = statistics.median(r[0] for r in rounds), statistics.median(r[1] for r in rounds)
    print(f"JSON body of {len(body) / 1e6:.1f} MB, {args.requests} requests x 3 rounds (medians)")
    print("| app | median ms |")
    print("|---|---|")
    print(f"| Tator (`POST /yolo/predict_full`, unknown token, one ignored field) | {ours:.1f} |")
    print(f"| baseline: bare FastAPI, same request model | {base:.1f} |")
    print(f"difference {ours - base:+.1f} ms ({ours / base:.2f}x)")


if __name__ == "__main__":
    main()

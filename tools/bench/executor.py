"""Job executor overhead: the Ray executor against the thread executor (the baseline), in one run.

    python tools/bench/executor.py [--address local] [--noop-runs 5] [--clip-runs 3] [--parallel 8]

For each executor a real app is built (`create_app`, as `python -m tator` does; with Ray the start-up
includes connecting and the data-directory probe), then:
- no-op job: submit -> succeeded wall time of a job that returns at once (sequential, median);
- tiny CLIP head: `POST /clip/train` -> succeeded wall time with the tiny zoo's CLIP backbone on a
  synthetic dataset (embedding cache off, so every run embeds; median);
- N at once: wall time until N jobs of 0.5 s each, submitted together, have all succeeded.
Thread rows use the server default (`TATOR_CPU_JOB_WORKERS=1`) and, for the parallel row, as many
workers as jobs. `--address local` starts a Ray instance sized to this machine inside the app.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tator.jobs.context import JobContext  # noqa: E402
from tator.jobs.kinds import JobKind  # noqa: E402


class Pause(BaseModel):
    seconds: float = 0.0


class Paused(BaseModel):
    seconds: float


def pause(params: Pause, ctx: JobContext) -> Paused:
    """The no-op job (seconds=0) and the small job of the parallel row."""
    if params.seconds:
        ctx.cancel.wait(params.seconds)
    ctx.checkpoint()
    return Paused(seconds=params.seconds)


PAUSE = JobKind("bench.pause", pause, Pause, Paused, resource="cpu")


def _wait_all(jobs: Any, job_ids: list[str], timeout: float = 600) -> None:
    for job_id in job_ids:
        record = jobs.wait(job_id, timeout)
        assert record.status.value == "succeeded", (record.status, record.error)


def noop_s(jobs: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        _wait_all(jobs, [jobs.submit_kind(PAUSE, Pause()).job_id])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def parallel_s(jobs: Any, count: int) -> float:
    started = time.perf_counter()
    _wait_all(jobs, [jobs.submit_kind(PAUSE, Pause(seconds=0.5)).job_id for _ in range(count)])
    return time.perf_counter() - started


def clip_s(client: Any, runs: int) -> float:
    times = []
    form = {"dataset_id": "shapes", "encoder_type": "clip", "clip_model_name": "embedders/clip",
            "reuse_embeddings": "false"}  # fmt: skip
    for index in range(runs):
        started = time.perf_counter()
        job_id = client.post("/clip/train", data={**form, "model_filename": f"bench{index}"}).json()["job_id"]
        while (body := client.get(f"/clip/train/{job_id}").json())["status"] not in ("succeeded", "failed"):
            time.sleep(0.02)
        assert body["status"] == "succeeded", body["error"]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_executor(name: str, settings_kw: dict[str, Any], work: Path, clip_dir: Path, archive: Path,
                 args: argparse.Namespace) -> dict[str, float]:  # fmt: skip
    from fastapi.testclient import TestClient

    from tator.app import create_app
    from tator.settings import Settings

    data_dir = work / name
    shutil.copytree(clip_dir, data_dir / "uploads" / "embedders" / "clip")  # backbones live in the data dir
    settings = Settings(data_dir=data_dir, device="cpu", log_level="WARNING", **settings_kw)
    started = time.perf_counter()
    with TestClient(create_app(settings)) as client:
        figures = {"start-up s": time.perf_counter() - started}
        files = {"file": (archive.name, archive.read_bytes(), "application/zip")}
        assert client.post("/datasets/upload", files=files).status_code == 200
        jobs = client.app.state.tator.jobs  # type: ignore[attr-defined]
        figures["no-op job s"] = noop_s(jobs, args.noop_runs)
        figures["tiny CLIP head s"] = clip_s(client, args.clip_runs)
        figures[f"{args.parallel} x 0.5 s jobs at once s"] = parallel_s(jobs, args.parallel)
    return figures


def _dataset(work: Path) -> Path:
    from tator.zoo.synthetic import make_detection_dataset

    ds = make_detection_dataset(work / "src" / "shapes", n_train=24, n_val=8, image_size=128)
    archive = work / "shapes.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"shapes/{path.relative_to(ds.root).as_posix()}")
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default="local")
    parser.add_argument("--noop-runs", type=int, default=5)
    parser.add_argument("--clip-runs", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway loopback instance: no ~/.ray/auth_token
    from tator.offline import configure_model_libraries
    from tator.zoo.tiny_embed import build_tiny_clip

    with tempfile.TemporaryDirectory(prefix="tator-bench-executor-") as tmp:
        work = Path(tmp)
        configure_model_libraries(work / "model-config", offline=True)
        clip_dir, archive = build_tiny_clip(work / "clip", seed=0), _dataset(work)
        setups: list[tuple[str, dict[str, Any]]] = [
            ("threads (baseline, 1 CPU worker)", {}),
            ("ray", {"executor": "ray", "ray_address": args.address, "ray_max_jobs": args.parallel}),
            (f"threads ({args.parallel} CPU workers)", {"cpu_job_workers": args.parallel}),
        ]
        rows = {name: run_executor(f"run{i}", kw, work, clip_dir, archive, args) for i, (name, kw) in enumerate(setups)}
    names = list(next(iter(rows.values())))
    print("| executor | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for executor, figures in rows.items():
        print(f"| {executor} | " + " | ".join(f"{figures[n]:.3f}" for n in names) + " |")


if __name__ == "__main__":
    from tools.bench import executor as this  # job functions must live in an importable module for Ray

    this.main()

"""The Ray executor against a real local Ray cluster started by the test: completion, cancel, a killed
worker, a server restart that reattaches, and the same routes and event stream as with threads."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tator.jobs.kinds import JobKinds
from tator.jobs.manager import JobManager
from tator.jobs.slots import DeviceSlots
from tator.jobs.store import JobStore
from tator.jobs.types import JobRecord, JobStatus
from tator.storage.db import Database
from tests.jobs.ray_jobs import NAP, WHERE, Nap
from tests.support.ray_cluster import local_ray_cluster

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with local_ray_cluster(tmp_path_factory.mktemp("ray")) as address:
        yield address


def ray_manager(tmp_path: Path, address: str, completed: list[JobRecord]) -> JobManager:
    from tator.jobs.ray_executor import RayExecutor

    kinds = JobKinds()
    kinds.register(NAP, lambda record: completed.append(record) or {"published": True})
    return JobManager(
        JobStore(Database(tmp_path / "db.sqlite3")),
        RayExecutor(address, loaders={}),
        DeviceSlots(jobs_per_gpu=1, cpu_workers=4, gpu_devices=[]),
        run_root=tmp_path / "runs",
        flush_interval_s=0.0,
        kinds=kinds,
    )


def wait_for(jobs: JobManager, job_id: str, check: Any, timeout: float = 60) -> JobRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = jobs.get(job_id)
        if check(record):
            return record
        assert time.monotonic() < deadline, record
        time.sleep(0.05)


def test_a_job_runs_on_the_cluster_streams_back_and_completes_here(tmp_path: Path, ray_address: str) -> None:
    completed: list[JobRecord] = []
    jobs = ray_manager(tmp_path, ray_address, completed)
    try:
        done = jobs.wait(jobs.submit_kind(NAP, Nap(seconds=0.5)).job_id, 120)
    finally:
        jobs.shutdown(timeout=30)
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.result is not None and done.result["published"] is True and done.result["pid"] != os.getpid()
    assert [r.job_id for r in completed] == [done.job_id]  # the completion step ran in this process
    assert any(line.message.startswith("running on Ray node") for line in done.logs)
    assert done.metrics["steps"] and done.progress == 1.0
    assert (Path(done.run_dir or "") / "napped.txt").read_text() == "0.5"


def test_cancel_reaches_the_remote_job_and_a_killed_worker_fails_with_its_code(
    tmp_path: Path, ray_address: str
) -> None:
    completed: list[JobRecord] = []
    jobs = ray_manager(tmp_path, ray_address, completed)
    try:
        cancelled = jobs.submit_kind(NAP, Nap(seconds=120)).job_id
        killed = jobs.submit_kind(NAP, Nap(seconds=120)).job_id
        wait_for(jobs, cancelled, lambda r: r.progress > 0)
        jobs.cancel(cancelled)
        assert wait_for(jobs, cancelled, lambda r: r.status.terminal, 30).status == JobStatus.CANCELLED
        running = wait_for(jobs, killed, lambda r: any(line.message.startswith("pid ") for line in r.logs))
        pid = int(next(line.message for line in running.logs if line.message.startswith("pid "))[4:])
        os.kill(pid, signal.SIGKILL)  # the Ray worker process running the job
        failed = wait_for(jobs, killed, lambda r: r.status.terminal, 60)
    finally:
        jobs.shutdown(timeout=30)
    assert failed.status == JobStatus.FAILED and failed.error is not None
    assert failed.error.code == "job_worker_died" and f"pid {pid}" in failed.error.message
    assert completed == []


def test_a_restarted_server_reattaches_and_records_the_final_state(tmp_path: Path, ray_address: str) -> None:
    first: list[JobRecord] = []
    jobs = ray_manager(tmp_path, ray_address, first)
    job_id = jobs.submit_kind(NAP, Nap(seconds=6)).job_id
    wait_for(jobs, job_id, lambda r: r.progress > 0)
    jobs.shutdown(timeout=30)  # the server stops; the job keeps running on the cluster
    assert JobStore(Database(tmp_path / "db.sqlite3")).get(job_id).status == JobStatus.RUNNING  # type: ignore[union-attr]

    second: list[JobRecord] = []
    restarted = ray_manager(tmp_path, ray_address, second)
    try:
        assert restarted.is_active(job_id)
        done = restarted.wait(job_id, 120)
    finally:
        restarted.shutdown(timeout=30)
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert first == [] and [r.job_id for r in second] == [job_id]
    assert done.result is not None and done.result["slept"] == 6


def test_tiny_yolo_training_through_the_routes_on_ray_completes_and_activates(
    tmp_path: Path, ray_address: str, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path
) -> None:
    from fastapi.testclient import TestClient

    from tator.app import create_app
    from tator.settings import Settings
    from tests.api.test_yolo_training import upload, wait_job
    from tests.datasets.zips import yolo_zip

    assert tiny_zoo
    settings = Settings(data_dir=tmp_path / "data", device="cpu", model_zoo="tiny", executor="ray",
                        ray_address=ray_address)  # fmt: skip
    settings.uploads_dir.mkdir(parents=True)
    os.symlink(tiny_zoo_dir, settings.uploads_dir / "zoo")
    archive, _ = yolo_zip(tmp_path)
    body = {"dataset_id": "shapes", "accept_tos": True, "from_scratch": True, "epochs": 1, "img_size": 64, "batch": 4}
    with TestClient(create_app(settings)) as client:  # start-up probed the data dir from the cluster
        upload(client, archive)
        job_id = client.post("/yolo/train/jobs", json=body).json()["job_id"]
        job = wait_job(client, f"/yolo/train/jobs/{job_id}")
        with client.stream("GET", f"/jobs/{job_id}/events") as stream:
            events = "".join(stream.iter_text())
        active = client.get("/yolo/active").json()
        runs = client.get("/yolo/runs").json()
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["activated"] is True and active["run_id"] == job_id
    assert any(line["message"].startswith("running on Ray node") for line in job["logs"])
    assert job["metrics"] and "event: end" in events
    assert [(r["run_id"], r["status"], r["is_active"]) for r in runs] == [(job_id, "succeeded", True)]


@pytest.mark.gpu
def test_a_gpu_job_asks_ray_for_one_gpu_and_sees_it_as_cuda_0(tmp_path: Path) -> None:
    from tator.jobs.ray_executor import RayExecutor

    with local_ray_cluster(tmp_path, num_gpus=1) as address:
        jobs = JobManager(
            JobStore(Database(tmp_path / "db.sqlite3")),
            RayExecutor(address, loaders={}),
            DeviceSlots(jobs_per_gpu=1, cpu_workers=4, gpu_devices=[]),
            run_root=tmp_path / "runs",
        )
        try:
            done = jobs.wait(jobs.submit_kind(WHERE, Nap()).job_id, 180)
        finally:
            jobs.shutdown(timeout=30)
    assert done.status == JobStatus.SUCCEEDED, done.error
    assert done.result is not None and done.result["device"] == "cuda:0" and done.result["cuda_available"]
    assert done.result["cuda_visible_devices"] not in (None, "")


def test_start_up_refuses_when_a_node_cannot_read_the_data_dir(
    tmp_path: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative data dir: the server writes the probe under its own working directory, the Ray worker
    looks under its own, so the node is blind to it, as a node without the shared mount would be."""
    from tator.errors import ExecutorUnavailable
    from tator.jobs.ray_executor import RayExecutor, probe_data_dir

    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    executor = RayExecutor(ray_address, loaders={})
    try:
        probe_data_dir(tmp_path / "data")  # the same directory by its absolute path: visible
        with pytest.raises(ExecutorUnavailable, match="cannot read the data directory"):
            probe_data_dir(Path("data"))
    finally:
        executor.close()
    assert list(Path("data").iterdir()) == []  # the probe file is removed either way


def test_a_server_killed_while_training_runs_on_ray_reattaches_after_restart(
    tmp_path: Path, ray_address: str, tiny_zoo: dict[str, Path], tiny_zoo_dir: Path
) -> None:
    """SIGKILL (no graceful detach): the restarted server finds the job's actor still running, follows it
    (the job is not `interrupted`) and runs the completion step once: the run is the active one."""
    import httpx

    from tests.datasets.zips import yolo_zip
    from tests.support.server_process import start_tator

    assert tiny_zoo
    data_dir = tmp_path / "data"
    (data_dir / "uploads").mkdir(parents=True)
    os.symlink(tiny_zoo_dir, data_dir / "uploads" / "zoo")
    archive, _ = yolo_zip(tmp_path)
    env = {"TATOR_DEVICE": "cpu", "TATOR_MODEL_ZOO": "tiny", "TATOR_EXECUTOR": "ray", "TATOR_RAY_ADDRESS": ray_address}
    body = {"dataset_id": "shapes", "accept_tos": True, "from_scratch": True, "epochs": 80, "img_size": 64, "batch": 4}
    server = start_tator(data_dir, env)
    try:
        server.wait_ready(timeout=120)
        with httpx.Client(base_url=server.base_url, timeout=30) as http, open(archive, "rb") as handle:
            assert http.post("/datasets/upload", files={"file": (archive.name, handle, "application/zip")}).is_success
            job_id = http.post("/yolo/train/jobs", json=body).json()["job_id"]
            path = f"/yolo/train/jobs/{job_id}"
            deadline = time.monotonic() + 180
            while not ((job := http.get(path).json())["progress"] > 0 and job["metrics"]):  # epochs run on Ray
                assert job["status"] in ("queued", "running") and time.monotonic() < deadline, job
                time.sleep(0.1)
    finally:
        server.kill_hard()  # SIGKILL: no shutdown, no detach; the job's actor keeps running on the cluster
    assert job["status"] == "running" and not (data_dir / "uploads" / "yolo_runs" / job_id / "job_result.json").exists()

    restarted = start_tator(data_dir, env)
    try:
        restarted.wait_ready(timeout=120)
        with httpx.Client(base_url=restarted.base_url, timeout=30) as http:
            # reattached, not interrupted (on a busy machine the training may end while the server restarts;
            # its actor waits, done, for a server to follow it, so the story below is the same)
            assert http.get(path).json()["status"] in ("running", "succeeded")
            deadline = time.monotonic() + 300
            while (job := http.get(path).json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, job
                time.sleep(0.2)
            runs = http.get("/yolo/runs").json()
            active = http.get("/yolo/active").json()
    finally:
        restarted.stop()
    # "succeeded", not "succeeded (completed at start-up)": recorded by following the job to its end
    assert job["status"] == "succeeded" and job["message"] == "succeeded", job
    assert f"job.reattached id={job_id}" in (data_dir / "logs" / "tator.log").read_text()
    assert job["result"]["activated"] is True and active["run_id"] == job_id
    assert [(r["run_id"], r["status"], r["is_active"]) for r in runs] == [(job_id, "succeeded", True)]

"""The Ray executor: each job runs in its own Ray actor on the cluster, followed by a thread here.

The manager's logic (queue, states, completion step, cancel-holds) is the same as with threads; only
`call` differs: it starts a named, detached actor (`tator-job-<id>` in namespace `tator`) with the job
kind's resources, then polls it, replaying progress, logs and metrics on the job's context and passing a
cancel on. A dead actor (worker process or node) ends the job `failed` with `job_worker_died` and the
job's last log lines. At shutdown the server detaches from running actors; the next server reattaches
(`reattachable`). Ray is imported only here, and only when this executor is chosen.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tator
from tator.errors import ExecutorUnavailable, JobWorkerDied
from tator.jobs.context import JobCancelled, JobContext, JobDetached, JobFailed, JobFunction
from tator.jobs.executor import ThreadExecutor
from tator.jobs.ray_worker import JobRunner, forward
from tator.offline import OFFLINE_SWITCHES
from tator.runtime.loaders import Loader

log = logging.getLogger(__name__)

NAMESPACE = "tator"
POLL_S = 0.2
REPO_ROOT = str(Path(tator.__file__).resolve().parents[1])
# The model libraries' offline switches and config dir, as the server set them (tator.offline).
FORWARDED_ENV = (*OFFLINE_SWITCHES, "YOLO_CONFIG_DIR", "OMP_NUM_THREADS")


def actor_name(job_id: str) -> str:
    return f"tator-job-{job_id}"


class RayExecutor(ThreadExecutor):
    def __init__(self, address: str, *, loaders: Mapping[str, Loader], poll_s: float = POLL_S) -> None:
        super().__init__()
        import ray

        self._ray: Any = ray  # parts of Ray's API are untyped
        self.local = address == "local"
        self._loaders = dict(loaders)
        self._poll_s = poll_s
        self._detached: set[str] = set()
        self._detach_lock = threading.Lock()
        env = {"PYTHONPATH": os.pathsep.join(p for p in (REPO_ROOT, os.environ.get("PYTHONPATH")) if p)}
        env |= {name: os.environ[name] for name in FORWARDED_ENV if name in os.environ}
        try:
            ray.init(address=None if self.local else address, namespace=NAMESPACE, include_dashboard=False,
                     log_to_driver=False, runtime_env={"env_vars": env}, ignore_reinit_error=True)  # fmt: skip
        except Exception as exc:
            raise ExecutorUnavailable(f"cannot connect to the Ray cluster at {address!r}: {exc}") from exc
        log.info("ray.connected address=%s resources=%s", address, self._ray.cluster_resources())

    # --- running ----------------------------------------------------------------------------------
    def call(self, fn: JobFunction, params: Any, ctx: JobContext, *, resource: str, attach: bool) -> Any:
        actor = self._existing(ctx.job_id) if attach else self._start(fn, params, ctx, resource)
        if actor is None:
            raise JobWorkerDied("the job's Ray worker was gone when the server reattached", job_id=ctx.job_id)
        last_words: deque[str] = deque(maxlen=8)
        try:
            state = self._follow(actor, ctx, last_words)
        except self._ray.exceptions.RayActorError as exc:
            words = " | ".join(last_words) or "no log lines"
            reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise JobWorkerDied(f"the job's Ray worker died ({reason}); last words: {words}"[:2000]) from exc
        self._ray.kill(actor, no_restart=True)
        if state["state"] == "succeeded":
            return state["result"]
        if state["state"] == "cancelled":
            raise JobCancelled("cancelled on the cluster")
        code, message = state["error"] or ("internal_error", "the job failed without an error")
        raise JobFailed(code, message)

    def _start(self, fn: JobFunction, params: Any, ctx: JobContext, resource: str) -> Any:
        ray = self._ray
        options: dict[str, Any] = {"num_cpus": 1}
        if resource == "gpu" and ray.cluster_resources().get("GPU", 0) > 0:
            options = {"num_cpus": 1, "num_gpus": 1}  # without GPUs on the cluster a gpu job runs on CPU
        remote = ray.remote(JobRunner).options(
            name=actor_name(ctx.job_id), namespace=NAMESPACE, lifetime="detached", max_restarts=0,
            max_concurrency=4, **options,
        )  # fmt: skip
        actor = remote.remote(ctx.job_id, str(ctx.run_dir), self._loaders)
        where = ray.get(actor.start.remote(fn, params))
        ctx.log(f"running on Ray node {where['node']} ({where['device']})")
        return actor

    def _existing(self, job_id: str) -> Any:
        try:
            return self._ray.get_actor(actor_name(job_id), namespace=NAMESPACE)
        except ValueError:
            return None

    def _follow(self, actor: Any, ctx: JobContext, last_words: deque[str]) -> dict[str, Any]:
        since, cancel_sent = 0, False
        while True:
            if self._is_detached(ctx.job_id):
                raise JobDetached(ctx.job_id)
            if ctx.cancel.cancelled and not cancel_sent:
                actor.cancel.remote()
                cancel_sent = True
            try:
                state: dict[str, Any] = self._ray.get(actor.poll.remote(since), timeout=60)
            except self._ray.exceptions.GetTimeoutError:
                continue
            forward(ctx, state["events"], last_words.append)
            since = state["next"]
            if state["state"] not in ("starting", "running"):
                return state
            time.sleep(self._poll_s)

    # --- restart and shutdown ---------------------------------------------------------------------
    def reattachable(self, job_id: str) -> bool:
        return not self.local and self._existing(job_id) is not None

    def detach(self, job_id: str) -> bool:
        if self.local:
            return False  # a local Ray instance ends with this server: cancel instead
        with self._detach_lock:
            self._detached.add(job_id)
        return True

    def _is_detached(self, job_id: str) -> bool:
        with self._detach_lock:
            return job_id in self._detached

    def close(self) -> None:
        self._ray.shutdown()


def probe_data_dir(data_dir: Path, timeout_s: float = 60.0) -> None:
    """Refuse to start unless every alive Ray node reads the probe file this server writes under `data_dir`
    (shared storage mounted at the same path). Call after the executor connected."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    ray_any: Any = ray
    token = uuid.uuid4().hex
    probe = data_dir / f".ray-probe-{token}"
    probe.write_text(token, encoding="utf-8")
    try:
        reader = ray.remote(num_cpus=0)(_read_probe)
        nodes = [node["NodeID"] for node in ray_any.nodes() if node.get("Alive")]
        refs = [reader.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(str(probe))
                for node in nodes]  # fmt: skip
        seen = ray.get(refs, timeout=timeout_s)
    except Exception as exc:
        raise ExecutorUnavailable(f"the Ray cluster could not run the data-directory probe: {exc}") from exc
    finally:
        probe.unlink(missing_ok=True)
    blind = [node for node, value in zip(nodes, seen, strict=True) if value != token]
    if blind:
        raise ExecutorUnavailable(
            f"{len(blind)} of {len(nodes)} Ray nodes cannot read the data directory {data_dir}: mount it as shared "
            "storage at the same path on every node (see docs/scale-out.md)"
        )


def _read_probe(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return None

"""Starting a head-graft job: every check first, then the run dir is reserved and the job queued."""

from __future__ import annotations

import time

from tator.errors import YoloRunExists, YoloTosRequired
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.active_runs import ActiveRuns
from tator.storage.files import remove_tree
from tator.storage.layout import Layout
from tator.yolo.graft_job import YOLO_HEAD_GRAFT
from tator.yolo.graft_plan import HeadGraftRequest, append_audit, prepare, run_record


def start_graft(
    request: HeadGraftRequest, *, layout: Layout, jobs: JobManager, runs: ActiveRuns, offline: bool
) -> JobRecord:
    """Validate, plan and queue a graft; the job id is the run id. A refusal writes nothing."""
    if not request.accept_tos:
        raise YoloTosRequired("head graft trains with Ultralytics (AGPL-3.0): set accept_tos to true")
    plan, _dataset = prepare(request, layout=layout, runs=runs, jobs=jobs, offline=offline)
    run_dir = runs.store.path(plan.run_id)
    try:
        run_dir.mkdir(parents=True)  # reserves the id: two starts with one run_name cannot both pass
    except FileExistsError as exc:
        raise YoloRunExists(f"a run named {plan.run_id} already exists", run_id=plan.run_id) from exc
    try:
        runs.store.write(plan.run_id, run_record(plan, "queued", created_at=time.time()))
        append_audit(run_dir, "status", status="queued", job_id=plan.run_id, warnings=plan.warnings)
        return jobs.submit_kind(YOLO_HEAD_GRAFT, plan, run_dir=run_dir, job_id=plan.run_id)
    except BaseException:
        remove_tree(run_dir)
        raise

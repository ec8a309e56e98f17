"""Every job kind the server runs, and the completion step each one gets in the server.

A new kind (SAM3 or Qwen fine-tuning, calibration, prepass ...) is one `JobKind` in its domain, added to
`JOB_KINDS`, plus its completion step in `build_job_kinds` when it has server-side work at the end.
tests/test_job_kinds.py walks this list and checks the contract of every entry.
"""

from __future__ import annotations

from tator.calibration.job import CALIBRATION
from tator.clip.train import CLIP_TRAIN
from tator.clip.train import complete_training as complete_clip
from tator.clip.train_start import clip_roots
from tator.jobs.kinds import JobKind, JobKinds
from tator.prepass.job import PREPASS_DATASET, complete_job
from tator.qwen.train import QWEN_TRAIN
from tator.qwen.train import complete_training as complete_qwen
from tator.rfdetr.service import RFDETR_RUNS
from tator.rfdetr.train import RFDETR_TRAIN
from tator.rfdetr.train import complete_training as complete_rfdetr
from tator.runtime.active_runs import ActiveRuns, RunFamily
from tator.runtime.registry import ModelRegistry
from tator.runtime.selections import ModelSelections
from tator.sam3.prompt_helper.jobs import PROMPT_JOB_KINDS
from tator.sam3.train import SAM3_TRAIN
from tator.storage.layout import Layout
from tator.storage.runs import RunStore
from tator.yolo.graft_job import YOLO_HEAD_GRAFT, complete_graft
from tator.yolo.service import YOLO_RUNS
from tator.yolo.train import YOLO_TRAIN
from tator.yolo.train import complete_training as complete_yolo

JOB_KINDS: tuple[JobKind, ...] = (
    YOLO_TRAIN, YOLO_HEAD_GRAFT, RFDETR_TRAIN, CLIP_TRAIN, QWEN_TRAIN, SAM3_TRAIN, *PROMPT_JOB_KINDS.values(),
    CALIBRATION,
    PREPASS_DATASET,
)  # fmt: skip
# Kinds whose job leaves nothing for the server to do at the end (their output is read from the run dir).
NO_COMPLETION: frozenset[str] = frozenset(
    {SAM3_TRAIN.name, *(kind.name for kind in PROMPT_JOB_KINDS.values()), CALIBRATION.name}
)


def _runs(
    family: RunFamily, root: str, layout: Layout, selections: ModelSelections, registry: ModelRegistry
) -> ActiveRuns:
    return ActiveRuns(family, RunStore(layout.root(root), family.errors.not_found), selections, registry)


def build_job_kinds(layout: Layout, selections: ModelSelections, registry: ModelRegistry) -> JobKinds:
    """The registry the job manager uses for completion steps (also when it reconciles at start-up)."""
    yolo_runs = _runs(YOLO_RUNS, "yolo_runs", layout, selections, registry)
    rfdetr_runs = _runs(RFDETR_RUNS, "rfdetr_runs", layout, selections, registry)
    kinds = JobKinds()
    kinds.register(YOLO_TRAIN, complete_yolo(yolo_runs))
    kinds.register(YOLO_HEAD_GRAFT, complete_graft(yolo_runs))
    kinds.register(RFDETR_TRAIN, complete_rfdetr(rfdetr_runs))
    kinds.register(CLIP_TRAIN, complete_clip(clip_roots(layout, cache_max_bytes=0)))  # publishing needs no cache bound
    kinds.register(QWEN_TRAIN, complete_qwen)
    kinds.register(PREPASS_DATASET, complete_job(layout))
    for kind in (SAM3_TRAIN, *PROMPT_JOB_KINDS.values(), CALIBRATION):
        kinds.register(kind)
    return kinds

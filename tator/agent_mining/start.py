"""Turning a mining request into a job plan (dataset sample, prompts per class, the head), queueing it,
and the server-side views: job listings, the latest result, and the mining cache's size and purge.

Everything a request can get wrong is refused here, before anything is queued.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tator.agent_mining.cache import enforce, purge
from tator.agent_mining.heads import resolve_head
from tator.agent_mining.job import AGENT_MINING, KIND, MiningClass, MiningPlan
from tator.agent_mining.recipe import MiningParams
from tator.clip.active import SLOT as CLASSIFIER_SLOT
from tator.clip.active import ClipPlaces
from tator.datasets.formats.model import DatasetAnnotations, ImageAnnotation
from tator.errors import (
    AgentCachePurgeBlocked,
    AgentMiningEmptySample,
    AgentMiningJobNotFound,
    AgentMiningNoClassesSelected,
    AgentMiningResultNotFound,
)
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.runtime.selections import ModelSelections
from tator.sam3.datasets import dataset_ref, read_annotations
from tator.sam3.prompt_helper.evaluate import SampleImage
from tator.sam3.prompt_helper.suggest import dedupe as dedupe_prompts
from tator.storage.layout import Layout

CACHE_DIR = "cache"
MAX_PROMPTS_PER_CLASS = 50


def cache_root(layout: Layout) -> Path:
    path = layout.root("agent_mining") / CACHE_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def sample(ann: DatasetAnnotations, count: int, seed: int) -> list[ImageAnnotation]:
    """A seeded sample of the held-out split (val, else test, else every image), in dataset order."""
    pool = ann.split("val") or ann.split("test") or ann.images
    chosen = sorted(random.Random(seed).sample(range(len(pool)), min(count, len(pool))))
    return [pool[i] for i in chosen]


def _prompts(class_id: int, name: str, options: Mapping[str, Any]) -> list[str]:
    def given(key: str) -> list[str]:
        raw: Mapping[str, Sequence[str]] = options.get(key) or {}
        return [str(p) for p in raw.get(str(class_id), [])]

    base = given("text_prompts_by_class") or [name.replace("_", " ")]
    return dedupe_prompts([*base, *given("extra_prompts_by_class")])[:MAX_PROMPTS_PER_CLASS]


def _head(selections: ModelSelections, places: ClipPlaces, path: str | None) -> dict[str, Any]:
    """The given head (checked), else the active one, else none."""
    if path:
        file, _, ref = resolve_head(places, path)
        return {"head": ref, "head_path": str(file), "head_origin": "given"}
    active = selections.get(CLASSIFIER_SLOT)
    if active is None or not active.meta.get("classifier_path"):
        return {}
    file, _, ref = resolve_head(places, str(active.meta["classifier_path"]))
    return {"head": ref, "head_path": str(file), "head_origin": "active"}


def plan(
    layout: Layout, selections: ModelSelections, places: ClipPlaces, options: Mapping[str, Any], *,
    model_source: str, cache_max_bytes: int, cache_ttl_hours: float,
) -> MiningPlan:  # fmt: skip
    """Validate a request (dataset, classes, sample, head) and resolve it into a job plan."""
    ann = read_annotations(dataset_ref(layout, str(options["dataset_id"])))
    wanted = options.get("classes")
    class_ids = sorted(set(wanted)) if wanted else list(range(len(ann.classes)))
    unknown = [c for c in class_ids if not 0 <= c < len(ann.classes)]
    if unknown or not class_ids:
        missing = [str(c) for c in unknown]
        raise AgentMiningNoClassesSelected(f"no such classes in the dataset: {missing}", classes=missing)
    images = sample(ann, int(options["eval_image_count"]), int(options["split_seed"]))
    if not any(o.class_id in class_ids for i in images for o in i.objects):
        raise AgentMiningEmptySample("the sample holds no ground-truth box of the selected classes")
    params = MiningParams.model_validate({k: options[k] for k in MiningParams.model_fields if k in options})
    return MiningPlan(
        dataset_id=str(options["dataset_id"]), model_source=model_source, root=str(ann.root),
        images=[SampleImage(path=i.path, boxes=[[*o.box, float(o.class_id)] for o in i.objects]) for i in images],
        classes=[MiningClass(class_id=c, class_name=ann.classes[c], prompts=_prompts(c, ann.classes[c], options))
                 for c in class_ids],
        params=params, seed_threshold=float(options["seed_threshold"]),
        threshold_candidates=options.get("threshold_candidates"), max_steps=int(options["steps_max_steps_per_recipe"]),
        iou_threshold=float(options["iou_threshold"]), target_precision=float(options["clip_head_target_precision"]),
        clip_head_min_prob=float(options["clip_head_min_prob"]), clip_head_margin=float(options["clip_head_margin"]),
        clip_head_auto_tune=bool(options["clip_head_auto_tune"]), cache_root=str(cache_root(layout)),
        cache_max_bytes=cache_max_bytes, cache_ttl_hours=cache_ttl_hours, reuse_cache=bool(options["reuse_cache"]),
        **_head(selections, places, options.get("clip_head_classifier_path")),
    )  # fmt: skip


def submit(jobs: JobManager, mining_plan: MiningPlan) -> JobRecord:
    return jobs.submit_kind(AGENT_MINING, mining_plan, job_id=f"am_{uuid.uuid4().hex[:8]}")


def view(record: JobRecord) -> dict[str, Any]:
    """The contract's job shape: {job_id, status, message, progress, created_at, updated_at, request,
    result, logs, error}."""
    request = {k: v for k, v in record.params.items() if k not in ("images", "root", "cache_root", "head_path")}
    request["eval_images"] = len(record.params.get("images", []))
    return {
        "job_id": record.job_id, "status": record.status.value, "message": record.message,
        "progress": record.progress, "created_at": record.created_at, "updated_at": record.updated_at,
        "request": request, "result": record.result, "logs": [line.model_dump() for line in record.logs],
        "error": record.error.model_dump() if record.error else None,
    }  # fmt: skip


def get(jobs: JobManager, job_id: str) -> JobRecord:
    return jobs.get(job_id, kinds=(KIND,), not_found=AgentMiningJobNotFound)


def cancel(jobs: JobManager, job_id: str) -> JobRecord:
    return jobs.cancel(job_id, kinds=(KIND,), not_found=AgentMiningJobNotFound)


def listing(jobs: JobManager) -> list[JobRecord]:
    return jobs.list(kinds=(KIND,))


def latest(jobs: JobManager) -> JobRecord:
    """The most recently updated mining job."""
    records = listing(jobs)
    if not records:
        raise AgentMiningResultNotFound("no agent mining job has run yet")
    return max(records, key=lambda r: r.updated_at)


def cache_size(layout: Layout, *, max_bytes: int, ttl_hours: float) -> dict[str, Any]:
    """Size of the mining cache after applying its age and size limits."""
    total, files = enforce(cache_root(layout), max_bytes=max_bytes, ttl_hours=ttl_hours)
    return {"bytes": total, "files": files, "max_bytes": max_bytes, "ttl_hours": ttl_hours}


def cache_purge(jobs: JobManager, layout: Layout) -> dict[str, Any]:
    """Empty the mining cache; refused while a mining job is queued or running."""
    busy = [r.job_id for r in listing(jobs) if jobs.is_active(r.job_id)]
    if busy:
        raise AgentCachePurgeBlocked("a mining job is using the cache", job_ids=busy[:20])
    deleted_bytes, deleted_files = purge(cache_root(layout))
    return {"status": "ok", "deleted_bytes": deleted_bytes, "deleted_files": deleted_files}

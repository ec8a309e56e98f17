"""Agent mining: `/agent_mining/jobs` (mine per-class SAM3 recipes on a dataset sample), the latest result,
and the mining cache (`/agent_mining/cache_size`, `/agent_mining/cache/purge`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.agent_mining import start
from tator.api.clip_deps import ClipPlacesDep
from tator.api.deps import JobsDep, LayoutDep, SettingsDep, StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.errors import (
    AgentCachePurgeBlocked,
    AgentClipClassifierPathNotAllowed,
    AgentMiningClipHeadRequired,
    AgentMiningEmptySample,
    AgentMiningJobNotFound,
    AgentMiningNoClassesSelected,
    AgentMiningResultNotFound,
    JobNotCancellable,
    Sam3DatasetNotFound,
    Sam3DatasetTypeUnsupported,
)
from tator.sam3.models import concept_spec

router = IndexedRouter(prefix="/agent_mining", tags=["agent_mining"])
PROMPTS = "{class_id: [text prompts]}"


class AgentMiningRequest(BaseModel):
    # The reference's other optimiser knobs (tier-1/2 search, global optimiser, Qwen prompt expansion ...)
    # are accepted and ignored so its clients keep working.
    model_config = ConfigDict(extra="ignore")

    dataset_id: str = Field(description="Registered dataset whose ground truth scores the recipes.")
    classes: list[int] | None = Field(
        default=None, max_length=1000, description="Class ids to mine (default: every class)."
    )
    eval_image_count: int = Field(default=100, ge=1, le=2000, description="Images in the seeded sample (val split).")
    split_seed: int = Field(default=42, description="Seed of the image sample.")
    reuse_cache: bool = Field(default=True, description="Read per-image SAM3 answers from the mining cache.")
    steps_max_steps_per_recipe: int = Field(default=6, ge=1, le=20, description="Most prompts (steps) per recipe.")
    text_prompts_by_class: dict[str, list[str]] | None = Field(
        default=None, description=PROMPTS + " replacing the class name as the base prompts."
    )
    extra_prompts_by_class: dict[str, list[str]] | None = Field(default=None, description=PROMPTS + " added.")
    threshold_candidates: list[float] | None = Field(
        default=None, max_length=32, description="Seed thresholds to try (default: seed_threshold, 0.05 .. 0.8)."
    )
    clip_head_classifier_path: str | None = Field(
        default=None,
        description="Head (.npz) in the classifier store, relative to it. Default: the active head; with none, "
        "recipes have no head filter.",
    )
    clip_head_min_prob: float = Field(default=0.5, ge=0, le=1, description="Head filter: least class probability.")
    clip_head_margin: float = Field(default=0.0, ge=0, le=1, description="Head filter: least lead over other classes.")
    clip_head_auto_tune: bool = Field(default=True, description="Tune min_prob and margin to the target precision.")
    clip_head_target_precision: float = Field(
        default=0.75, ge=0, le=1, description="Precision the seed thresholds and the head filter aim for."
    )
    seed_threshold: float = Field(default=0.02, ge=0, le=1, description="Lowest seed (text) score threshold tried.")
    expand_threshold: float = Field(default=0.15, ge=0, le=1, description="Score threshold of visual expansions.")
    max_visual_seeds: int = Field(default=25, ge=0, le=100, description="Seeds per step expanded by visual prompts.")
    seed_dedupe_iou: float = Field(default=0.9, ge=0, le=1, description="Box IoU above which seeds are merged.")
    dedupe_iou: float = Field(default=0.5, ge=0, le=1, description="Box IoU above which outputs are merged.")
    mask_threshold: float = Field(default=0.5, ge=0, le=1, description="SAM3 mask probability cut-off.")
    min_size: int = Field(default=0, ge=0, le=100_000, description="Smallest kept box side, pixels.")
    simplify_epsilon: float = Field(default=0.0, ge=0, description="Polygon simplification in pixels (recorded).")
    max_results: int = Field(default=1000, ge=1, le=1000, description="Most detections per image.")
    iou_threshold: float = Field(default=0.5, gt=0, le=1, description="Box IoU for a match with ground truth.")


DATASET_ERRORS = (Sam3DatasetNotFound, Sam3DatasetTypeUnsupported, AgentMiningNoClassesSelected,
                  AgentMiningEmptySample, AgentClipClassifierPathNotAllowed, AgentMiningClipHeadRequired)  # fmt: skip


@router.post("/jobs", responses=responses(*DATASET_ERRORS))
def mining_start(body: AgentMiningRequest, state: StateDep, places: ClipPlacesDep) -> dict[str, Any]:
    """Queue a mining job (`am_` id): per class, a recipe of SAM3 prompts scored on a dataset sample."""
    settings = state.settings
    plan = start.plan(
        state.layout, state.selections, places, body.model_dump(),
        model_source=concept_spec(state.selections, state.base_models()).source,
        cache_max_bytes=settings.agent_mining_cache_max_bytes, cache_ttl_hours=settings.agent_mining_cache_ttl_hours,
    )  # fmt: skip
    return start.view(start.submit(state.jobs, plan))


@router.get("/jobs")
def mining_list(jobs: JobsDep) -> list[dict[str, Any]]:
    """Mining jobs, newest first."""
    return [start.view(r) for r in start.listing(jobs)]


@router.get("/jobs/{job_id}", responses=responses(AgentMiningJobNotFound))
def mining_get(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """One mining job with its progress, logs and result."""
    return start.view(start.get(jobs, job_id))


@router.post("/jobs/{job_id}/cancel", responses=responses(AgentMiningJobNotFound, JobNotCancellable))
def mining_cancel(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """Cancel a mining job (queued: at once; running: at its next checkpoint)."""
    return start.view(start.cancel(jobs, job_id))


@router.get("/results/latest", responses=responses(AgentMiningResultNotFound))
def mining_latest(jobs: JobsDep) -> dict[str, Any]:
    """The most recently updated mining job."""
    return start.view(start.latest(jobs))


@router.get("/cache_size")
def mining_cache_size(layout: LayoutDep, settings: SettingsDep) -> dict[str, Any]:
    """Bytes and files in the mining cache (after applying its age and size limits)."""
    return start.cache_size(layout, max_bytes=settings.agent_mining_cache_max_bytes,
                            ttl_hours=settings.agent_mining_cache_ttl_hours)  # fmt: skip


@router.post("/cache/purge", responses=responses(AgentCachePurgeBlocked))
def mining_cache_purge(jobs: JobsDep, layout: LayoutDep) -> dict[str, Any]:
    """Empty the mining cache (409 while a mining job runs)."""
    return start.cache_purge(jobs, layout)

"""The SAM3 prompt helper: `/sam3/prompt_helper/*` (suggest, expand, scoring jobs, presets)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query
from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import JobsDep, LayoutDep, StateDep
from tator.api.errors import responses
from tator.api.routing import IndexedRouter
from tator.errors import (
    InvalidPrompts,
    NoPromptsProvided,
    PromptHelperJobNotFound,
    PromptHelperPresetNotFound,
    PromptsMustBeObject,
    RecipeClassNotFound,
    RecipeNoGtForClass,
    RecipeNoImagesSampled,
    RecipePromptsRequired,
    Sam3DatasetNotFound,
    Sam3DatasetTypeUnsupported,
    SearchClassNotFound,
    SearchPromptsEmpty,
    SearchPromptsRequired,
)
from tator.jobs.types import JobRecord
from tator.sam3.models import concept_spec
from tator.sam3.prompt_helper import presets, start, suggest
from tator.sam3.prompt_helper.jobs import KINDS
from tator.state import AppState

router = IndexedRouter(prefix="/sam3/prompt_helper", tags=["sam3"])
DATASET = (Sam3DatasetNotFound, Sam3DatasetTypeUnsupported)
DATASET_ID = "Registered dataset whose ground truth scores the prompts."
PROMPTS = "{class_id: [prompts]} to score instead of suggested ones."


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore")
    dataset_id: str = Field(description=DATASET_ID)


class SuggestRequest(_Base):
    max_synonyms: int = Field(default=3, ge=0, le=10, description="Extra prompts per class beyond the label.")
    use_qwen: bool = Field(default=True, description="Accepted; suggestions come from labels, glossary and rules.")


class ExpandRequest(_Base):
    class_id: int = Field(description="Class index in the dataset's labelmap.")
    base_prompts: list[str] = Field(default_factory=list, description="Prompts the class already has.")
    max_new: int = Field(default=10, ge=0, le=50, description="Most new prompts to add.")


class _Scoring(_Base):
    score_threshold: float = Field(default=0.2, ge=0, le=1, description="Detection score counted as a hit.")
    max_dets: int = Field(default=100, ge=1, le=300, description="Detections per prompt and image.")
    iou_threshold: float = Field(default=0.5, gt=0, le=1, description="Box IoU for a true positive.")
    seed: int = Field(default=42, description="Seed of the image sample.")


class PromptHelperRequest(_Scoring):
    sample_per_class: int = Field(default=10, ge=1, le=500, description="Images per class holding it.")
    max_synonyms: int = Field(default=3, ge=0, le=10, description="Suggested prompts per class beyond the label.")
    use_qwen: bool = Field(default=True, description="Accepted; suggestions come from labels, glossary and rules.")
    prompts_by_class: dict[str, list[str]] | None = Field(default=None, description=PROMPTS)


class SearchRequest(_Scoring):
    sample_per_class: int = Field(default=20, ge=1, le=500, description="Images per class holding it.")
    negatives_per_class: int = Field(default=20, ge=0, le=500, description="Images per class without it.")
    precision_floor: float = Field(default=0.9, ge=0, le=1, description="Least precision a threshold must keep.")
    prompts_by_class: dict[str, list[str]] | None = Field(default=None, description=PROMPTS + " Required.")
    class_id: int | None = Field(default=None, description="Only search this class.")


class RecipePrompt(BaseModel):
    prompt: str = Field(description="Text prompt.")
    thresholds: list[float] | None = Field(default=None, description="Score thresholds to try for it.")


class RecipeRequest(_Scoring):
    class_id: int = Field(description="Class index in the dataset's labelmap.")
    prompts: list[RecipePrompt] = Field(default_factory=list, description="Prompts to combine.")
    sample_size: int = Field(default=30, ge=1, le=500, description="Images holding the class.")
    negatives: int = Field(default=0, ge=0, le=500, description="Images without the class.")
    threshold_candidates: list[float] | None = Field(default=None, description="Score thresholds to try.")


def _view(record: JobRecord) -> dict[str, Any]:
    total = sum(len(c.get("images", [])) for c in record.params.get("classes", []))
    return {
        "job_id": record.job_id, "kind": record.kind, "status": record.status.value, "message": record.message,
        "progress": record.progress, "total_steps": total, "completed_steps": round((record.progress or 0) * total),
        "created_at": record.created_at, "updated_at": record.updated_at,
        "request": {k: v for k, v in record.params.items() if k != "classes"}, "result": record.result,
        "logs": [line.model_dump() for line in record.logs],
        "error": record.error.model_dump() if record.error else None,
    }  # fmt: skip


def _start(state: AppState, mode: str, body: _Base) -> dict[str, Any]:
    source = concept_spec(state.selections, state.base_models()).source
    record = start.start(state.jobs, state.layout, mode=mode, dataset_id=body.dataset_id, model_source=source,
                         options=body.model_dump())  # fmt: skip
    return _view(record)


@router.post("/suggest", responses=responses(*DATASET))
def prompt_suggest(body: SuggestRequest, layout: LayoutDep) -> dict[str, Any]:
    """Candidate prompts per class from labels, the glossary and simple rules."""
    return suggest.suggest(layout, body.dataset_id, max_synonyms=body.max_synonyms, use_qwen=body.use_qwen)


@router.post("/expand", responses=responses(*DATASET, RecipeClassNotFound))
def prompt_expand(body: ExpandRequest, layout: LayoutDep) -> dict[str, Any]:
    """More prompts for one class (case-insensitive de-dup against the base prompts)."""
    return suggest.expand(layout, body.dataset_id, class_id=body.class_id, base_prompts=body.base_prompts,
                          max_new=body.max_new)  # fmt: skip


@router.post("/jobs", responses=responses(*DATASET))
def prompt_jobs(body: PromptHelperRequest, state: StateDep) -> dict[str, Any]:
    """Queue a job ranking each class's prompts by F1 against the ground truth (`ph_` id)."""
    return _start(state, "suggest", body)


@router.post("/search", responses=responses(*DATASET, SearchPromptsRequired, SearchPromptsEmpty, SearchClassNotFound))
def prompt_search(body: SearchRequest, state: StateDep) -> dict[str, Any]:
    """Queue a job finding, per prompt, the threshold with the best recall above a precision floor (`phs_`)."""
    return _start(state, "search", body)


@router.post(
    "/recipe",
    responses=responses(
        *DATASET, RecipeClassNotFound, RecipePromptsRequired, RecipeNoImagesSampled, RecipeNoGtForClass
    ),
)
def prompt_recipe(body: RecipeRequest, state: StateDep) -> dict[str, Any]:
    """Queue a job building a greedy cover of prompt x threshold steps for one class (`phr_`)."""
    return _start(state, "recipe", body)


@router.get("/jobs")
def prompt_job_list(jobs: JobsDep) -> list[dict[str, Any]]:
    """Prompt-helper jobs of every kind, newest first."""
    return [_view(r) for r in jobs.list(kinds=tuple(KINDS.values()))]


@router.get("/jobs/{job_id}", responses=responses(PromptHelperJobNotFound))
def prompt_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """One prompt-helper job with its progress and result."""
    return _view(jobs.get(job_id, kinds=tuple(KINDS.values()), not_found=PromptHelperJobNotFound))


@router.get("/presets")
def preset_list(
    layout: LayoutDep, dataset_id: Annotated[str | None, Query(description="Only this dataset's sets.")] = None
) -> list[dict[str, Any]]:
    """Saved prompt sets, newest first (optionally of one dataset)."""
    return presets.list_presets(layout, dataset_id)


@router.get("/presets/{preset_id}", responses=responses(PromptHelperPresetNotFound))
def preset_get(preset_id: str, layout: LayoutDep) -> dict[str, Any]:
    """One saved prompt set."""
    return presets.get_preset(layout, preset_id)


@router.post("/presets", responses=responses(*DATASET, InvalidPrompts, PromptsMustBeObject, NoPromptsProvided))
def preset_save(
    layout: LayoutDep,
    dataset_id: Annotated[str, Form(description=DATASET_ID)],
    prompts_json: Annotated[str, Form(description="JSON object {class_id: [prompts]}.")],
    label: Annotated[str, Form(description="Display name.")] = "",
) -> dict[str, Any]:
    """Save a prompt set (multipart form)."""
    return presets.save_preset(layout, dataset_id=dataset_id, label=label, prompts_json=prompts_json)

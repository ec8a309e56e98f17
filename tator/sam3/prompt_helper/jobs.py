"""The prompt-helper jobs: rank prompts per class (`ph_`), search prompt x threshold under a precision
floor (`phs_`), and build a recipe by greedy cover over prompt x threshold (`phr_`). Each job loads SAM3
itself and reads only the sampled images named in its plan."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind
from tator.sam3.prompt_helper.evaluate import PromptScore, SampleImage, load_model, score_prompts

KINDS = {"suggest": "sam3.prompt_helper", "search": "sam3.prompt_search", "recipe": "sam3.prompt_recipe"}
ID_PREFIX = {"suggest": "ph", "search": "phs", "recipe": "phr"}


class ClassSample(BaseModel):
    class_id: int
    class_name: str
    prompts: list[str]
    images: list[SampleImage]  # positives carry this class's boxes; negatives carry none


class PromptJobPlan(BaseModel):
    mode: Literal["suggest", "search", "recipe"]
    dataset_id: str
    model_source: str
    classes: list[ClassSample]
    score_threshold: float = 0.2
    max_dets: int = 100
    iou_threshold: float = 0.5
    precision_floor: float = 0.9
    threshold_candidates: list[float] | None = None


def thresholds(plan: PromptJobPlan) -> list[float]:
    """Candidate score thresholds: the plan's, else `score_threshold` and 0.3 .. 0.9 above it."""
    if plan.threshold_candidates:
        return sorted({round(t, 4) for t in plan.threshold_candidates if 0 <= t <= 1})
    grid = [plan.score_threshold, *(round(0.3 + 0.1 * i, 2) for i in range(7))]
    return sorted({t for t in grid if t >= plan.score_threshold})


def _ranked(scores: list[PromptScore], threshold: float) -> list[dict[str, Any]]:
    rows = [s.at(threshold) for s in scores]
    return sorted(rows, key=lambda r: (-r["f1"], -r["recall"], r["prompt"]))


def _search(scores: list[PromptScore], plan: PromptJobPlan) -> dict[str, Any]:
    """Per prompt, the threshold with the best recall whose precision meets the floor; best prompt first."""
    rows = []
    for score in scores:
        passing = [r for r in (score.at(t) for t in thresholds(plan)) if r["precision"] >= plan.precision_floor]
        if passing:
            rows.append(max(passing, key=lambda r: (r["recall"], r["precision"], -r["threshold"])))
    rows.sort(key=lambda r: (-r["recall"], -r["precision"], r["prompt"]))
    return {"candidates": rows, "best": rows[0] if rows else None}


def _recipe(scores: list[PromptScore], plan: PromptJobPlan) -> dict[str, Any]:
    """Greedy cover: repeatedly add the (prompt, threshold) that matches the most still-uncovered boxes
    (fewest false positives on ties) until nothing adds a box."""
    options = [(s, t) for s in scores for t in thresholds(plan)]
    covered: set[int] = set()
    steps: list[dict[str, Any]] = []
    false_positives = 0
    total = scores[0].gt_total if scores else 0
    while options:
        score, threshold = max(options, key=lambda o: (len(o[0].covered(o[1]) - covered), -o[0].at(o[1])["fp"]))
        gain = score.covered(threshold) - covered
        if not gain:
            break
        covered |= gain
        row = score.at(threshold)
        false_positives += row["fp"]
        steps.append({**row, "new_matches": len(gain), "cumulative_recall": round(len(covered) / total, 4),
                      "cumulative_fp": false_positives})  # fmt: skip
        options.remove((score, threshold))
    return {"steps": steps, "recall": round(len(covered) / total, 4) if total else 0.0, "gt": total}


class PromptJobResult(BaseModel):
    """mode, dataset_id and one entry per class (ranked prompts, a search or a recipe)."""

    model_config = ConfigDict(extra="allow")


def run(plan: PromptJobPlan, ctx: JobContext) -> PromptJobResult:
    """Score the plan's prompts on its sampled images and summarise them by the plan's mode."""
    ctx.progress(0.0, "loading SAM3", phase="setup")
    handle = load_model(plan.model_source, ctx.device)
    total = sum(len(c.images) for c in plan.classes) or 1
    done = 0
    results = []
    for cls in plan.classes:
        ctx.checkpoint()

        def progressed(n: int, base: int = done, name: str = cls.class_name) -> None:
            ctx.checkpoint()
            ctx.progress((base + n) / total, f"{name}: {base + n}/{total} images", phase="score")

        scores = score_prompts(
            handle, cls.images, cls.prompts, iou=plan.iou_threshold, max_dets=plan.max_dets, on_image=progressed
        )
        done += len(cls.images)
        entry: dict[str, Any] = {"class_id": cls.class_id, "class_name": cls.class_name, "images": len(cls.images)}
        if plan.mode == "suggest":
            ranked = _ranked(scores, plan.score_threshold)
            entry |= {"prompts": ranked, "best": ranked[0] if ranked else None}
        elif plan.mode == "search":
            entry |= _search(scores, plan)
        else:
            entry |= _recipe(scores, plan)
        ctx.log(f"class {cls.class_name}: scored {len(cls.prompts)} prompts on {len(cls.images)} images")
        results.append(entry)
    ctx.progress(1.0, "done", phase="done")
    return PromptJobResult(mode=plan.mode, dataset_id=plan.dataset_id, classes=results)


# One job function, three kinds (their ids and listings differ); the answer is the job result itself.
PROMPT_JOB_KINDS = {mode: JobKind(name, run, PromptJobPlan, PromptJobResult) for mode, name in KINDS.items()}

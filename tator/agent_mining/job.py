"""The agent-mining job (`am_` ids): per class, mine a recipe of SAM3 text prompts on a sample of a
dataset and, with a classifier head, tune its filter to a target precision.

The job loads SAM3 (and the head's backbone) itself through the production loaders, reads only the
sampled images its plan names and the head file, and keeps per-image SAM3 answers in the mining cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict

from tator.agent_mining.cache import MiningCache, enforce, image_key
from tator.agent_mining.engines import CachedEngine, HandleEngine
from tator.agent_mining.execute import Found, run_recipe
from tator.agent_mining.heads import HeadRef, class_index, keep, margins, probabilities, tune
from tator.agent_mining.mine import ImageCase, grid, match_found, prompt_stats, score, select_steps, summary
from tator.agent_mining.recipe import MAX_STEPS, HeadFilter, MiningParams, MiningRecipe, MiningStep, MiningSummary
from tator.clip.head import ClassifierHead, load_head
from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind
from tator.sam3.prompt_helper.evaluate import SampleImage

KIND = "agent_mining"


class MiningClass(BaseModel):
    class_id: int
    class_name: str
    prompts: list[str]


class MiningPlan(BaseModel):
    dataset_id: str
    model_source: str
    root: str  # the dataset's folder; image paths are relative to it
    images: list[SampleImage]  # the sample, each with every box as [x1, y1, x2, y2, class_id]
    classes: list[MiningClass]
    params: MiningParams
    seed_threshold: float = 0.02
    threshold_candidates: list[float] | None = None
    max_steps: int = 6
    iou_threshold: float = 0.5
    target_precision: float = 0.75
    head: HeadRef | None = None
    head_path: str | None = None  # absolute, checked inside the classifier store when planned
    head_origin: str | None = None  # "given" | "active"
    clip_head_min_prob: float = 0.5
    clip_head_margin: float = 0.0
    clip_head_auto_tune: bool = True
    cache_root: str
    cache_max_bytes: int
    cache_ttl_hours: float
    reuse_cache: bool = True


class MiningResult(BaseModel):
    model_config = ConfigDict(extra="allow")


def _load_encoder(ref: HeadRef, device: str) -> Any:
    from tator.clip.loader import load_clip, load_dinov3
    from tator.runtime.loaders import ModelSpec

    load = load_dinov3 if ref.encoder_family == "dinov3" else load_clip
    return load(ModelSpec(ref.encoder_family, ref.encoder_source), device).value


class _Head:
    """The plan's head, its backbone (loaded on first use) and per-image crop probabilities."""

    def __init__(self, plan: MiningPlan, device: str) -> None:
        assert plan.head is not None and plan.head_path is not None
        self.ref = plan.head
        self.head: ClassifierHead = load_head(Path(plan.head_path))
        self._device = device
        self._encoder: Any = None

    def proba(self, path: Path, found: list[Found]) -> Any:
        if self._encoder is None:
            self._encoder = _load_encoder(self.ref, self._device)
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        return probabilities(self._encoder, self.head, image, [f.box for f in found], self.ref.padding)


def _cases(plan: MiningPlan, handle: Any, cache: MiningCache) -> list[tuple[Path, CachedEngine]]:
    from tator.sam3.concept import vision_features

    out = []
    for image in plan.images:
        path = Path(plan.root) / image.path

        def make(p: Path = path) -> HandleEngine:
            import numpy as np

            with Image.open(p) as opened:
                pixels = np.asarray(opened.convert("RGB"))
            features = vision_features(handle, pixels)
            return HandleEngine(handle, features, pixels.shape[1], pixels.shape[0], plan.params, keep_masks=False)

        out.append((path, CachedEngine(cache, image_key(path), plan.params, make, read=plan.reuse_cache)))
    return out


def _head_filter(
    head: _Head, cases: list[ImageCase], paths: list[Path], steps: list[MiningStep], cls: MiningClass,
    plan: MiningPlan, gt_total: int,
) -> tuple[HeadFilter | None, Callable[[ImageCase], list[Found]] | None, list[str]]:  # fmt: skip
    """The head filter for a class's recipe (tuned to the target precision unless told not to) and the
    recipe run through it; None when the head does not know the class."""
    index = class_index(head.head, cls.class_name)
    if index is None:
        return None, None, [f"clip_head_class_missing: the head has no class {cls.class_name!r}"]
    rows: list[tuple[float, float, tuple[int, int] | None]] = []
    probas: dict[str, Any] = {}
    for n, case in enumerate(cases):
        found = run_recipe(case.engine, steps, plan.params)
        proba = probas[case.name] = head.proba(paths[n], found)
        diff = margins(proba, index)
        matched = match_found(found, case.gt, plan.iou_threshold)
        rows += [(float(proba[i, index]), float(diff[i]), None if m is None else (n, m)) for i, m in enumerate(matched)]
    gate = HeadFilter(classifier_path=head.ref.classifier_path, min_prob=plan.clip_head_min_prob,
                      margin=plan.clip_head_margin, target_precision=plan.target_precision)  # fmt: skip
    if plan.clip_head_auto_tune:
        tuned = tune(rows, gt_total=gt_total, target_precision=plan.target_precision)
        gate = gate.model_copy(update={"min_prob": tuned["min_prob"], "margin": tuned["margin"], "auto_tuned": True})

    def gated(case: ImageCase) -> list[Found]:
        found = run_recipe(case.engine, steps, plan.params)
        kept = keep(probas[case.name], index, head.head.classes, gate)
        return [f for f, k in zip(found, kept, strict=True) if k]

    return gate, gated, []


def _cases_of(plan: MiningPlan, cls: MiningClass, engines: list[tuple[Path, CachedEngine]]) -> list[ImageCase]:
    return [
        ImageCase(image.path, [b[:4] for b in image.boxes if int(b[4]) == cls.class_id], engine)
        for image, (_, engine) in zip(plan.images, engines, strict=True)
    ]


def _mine_class(
    plan: MiningPlan, cls: MiningClass, engines: list[tuple[Path, CachedEngine]], head: _Head | None,
    ctx: JobContext,
) -> dict[str, Any]:  # fmt: skip
    """One class's recipe, its summary on the sample, and (with a head) its tuned filter."""
    cases = _cases_of(plan, cls, engines)
    gt_total = sum(len(c.gt) for c in cases)
    thresholds = grid(plan.seed_threshold, plan.threshold_candidates)
    stats = [
        prompt_stats(
            cases,
            prompt,
            thresholds,
            plan.params,
            iou=plan.iou_threshold,
            target=plan.target_precision,
            checkpoint=ctx.checkpoint,
        )  # fmt: skip
        for prompt in cls.prompts
    ]
    steps = select_steps(stats, plan.max_steps)
    warnings: list[str] = []
    gate: HeadFilter | None = None
    run: Callable[[ImageCase], list[Found]] = lambda c: run_recipe(c.engine, steps, plan.params)  # noqa: E731
    if head is not None:
        gate, gated, warnings = _head_filter(head, cases, [p for p, _ in engines], steps, cls, plan, gt_total)
        run = gated or run
    else:
        warnings.append("no_head_filter: no classifier head was given or active; the recipe has no head filter")
    result = score(cases, run, plan.iou_threshold)
    figures = MiningSummary(
        **summary(result, gt_total), image_ids=[c.name for c in cases], iou_threshold=plan.iou_threshold,
        seed_stats=[{k: v for k, v in s.items() if k != "matched"} for s in stats],
    )  # fmt: skip
    recipe = MiningRecipe(class_id=cls.class_id, class_name=cls.class_name, text_prompts=cls.prompts[:MAX_STEPS],
                          steps=steps, params=plan.params, clip_head=gate, summary=figures)  # fmt: skip
    return {"class_id": cls.class_id, "class_name": cls.class_name, "recipe": recipe.model_dump(mode="json"),
            "head_filter": gate is not None, "head_origin": plan.head_origin if gate else None,
            "warnings": warnings}  # fmt: skip


def run(plan: MiningPlan, ctx: JobContext) -> MiningResult:
    """Mine a recipe for every class of the plan on its sampled images."""
    from tator.runtime.loaders import ModelSpec
    from tator.sam3.loader import load_sam3

    ctx.progress(0.0, "loading SAM3", phase="setup")
    handle = load_sam3(ModelSpec("sam3", plan.model_source), ctx.device).value
    cache = MiningCache(Path(plan.cache_root), plan.model_source)
    engines = _cases(plan, handle, cache)
    head = _Head(plan, ctx.device) if plan.head is not None else None
    results = []
    for n, cls in enumerate(plan.classes):
        ctx.checkpoint()
        ctx.progress(n / len(plan.classes), f"class {cls.class_name}: {len(cls.prompts)} prompts", phase="mine")
        results.append(_mine_class(plan, cls, engines, head, ctx))
        ctx.log(f"class {cls.class_name}: {len(results[-1]['recipe']['steps'])} steps, "
                f"{results[-1]['recipe']['summary']['matches']} matches")  # fmt: skip
    hits, misses = sum(e.hits for _, e in engines), sum(e.misses for _, e in engines)
    enforce(cache.root, max_bytes=plan.cache_max_bytes, ttl_hours=plan.cache_ttl_hours)
    ctx.progress(1.0, "done", phase="done")
    return MiningResult(dataset_id=plan.dataset_id, images=len(plan.images), classes=results,
                        head_filter=head is not None, cache={"hits": hits, "misses": misses})  # fmt: skip


AGENT_MINING = JobKind(KIND, run, MiningPlan, MiningResult)

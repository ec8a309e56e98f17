"""Turning a prompt-helper request into a job plan: sample images per class (seeded) from the dataset's
annotations, pick the prompts, resolve the active SAM3 model, and queue the job."""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from tator.datasets.formats.model import DatasetAnnotations
from tator.errors import (
    RecipeClassNotFound,
    RecipeNoGtForClass,
    RecipeNoImagesSampled,
    RecipePromptsRequired,
    SearchClassNotFound,
    SearchPromptsEmpty,
    SearchPromptsRequired,
)
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.sam3.datasets import dataset_ref, read_annotations
from tator.sam3.prompt_helper.evaluate import SampleImage
from tator.sam3.prompt_helper.jobs import ID_PREFIX, PROMPT_JOB_KINDS, ClassSample, PromptJobPlan
from tator.sam3.prompt_helper.suggest import candidates, class_synonyms, dedupe
from tator.storage.layout import Layout

MAX_PROMPTS_PER_CLASS = 50
Planned = tuple[DatasetAnnotations, list[ClassSample]]


def sample_images(
    ann: DatasetAnnotations, class_id: int, *, positives: int, negatives: int, seed: int
) -> list[SampleImage]:
    """Up to `positives` images holding the class (its boxes, pixel xyxy) and `negatives` without it."""
    rng = random.Random(f"{seed}:{class_id}")
    with_class: list[SampleImage] = []
    without: list[SampleImage] = []
    for image in ann.images:
        boxes = [list(o.box) for o in image.objects if o.class_id == class_id]
        (with_class if boxes else without).append(SampleImage(path=str(ann.root / image.path), boxes=boxes))
    rng.shuffle(with_class)
    rng.shuffle(without)
    return with_class[:positives] + without[:negatives]


def _prompt_lists(raw: Mapping[str, Sequence[str]] | None) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for key, prompts in (raw or {}).items():
        if str(key).strip().lstrip("-").isdigit():
            out[int(key)] = dedupe(str(p) for p in prompts)[:MAX_PROMPTS_PER_CLASS]
    return out


def plan_suggest(layout: Layout, dataset_id: str, options: Mapping[str, Any]) -> Planned:
    """`ph_`: every class, the given prompts or suggested candidates, positives only."""
    ann = read_annotations(dataset_ref(layout, dataset_id))
    _, synonyms = class_synonyms(layout, dataset_id)
    given = _prompt_lists(options.get("prompts_by_class"))
    samples = []
    for class_id, name in enumerate(ann.classes):
        prompts = given.get(class_id) or candidates(name, synonyms[name], limit=int(options["max_synonyms"]))
        images = sample_images(ann, class_id, positives=int(options["sample_per_class"]), negatives=0,
                               seed=int(options["seed"]))  # fmt: skip
        samples.append(ClassSample(class_id=class_id, class_name=name, prompts=prompts, images=images))
    return ann, samples


def plan_search(layout: Layout, dataset_id: str, options: Mapping[str, Any]) -> Planned:
    """`phs_`: the classes given prompts (or only `class_id`), positives and negatives."""
    if not options.get("prompts_by_class"):
        raise SearchPromptsRequired("prompts_by_class is required: {class_id: [prompts]}")
    given = {k: v for k, v in _prompt_lists(options["prompts_by_class"]).items() if v}
    if not given:
        raise SearchPromptsEmpty("prompts_by_class holds no prompts")
    ann = read_annotations(dataset_ref(layout, dataset_id))
    wanted = [int(options["class_id"])] if options.get("class_id") is not None else sorted(given)
    for class_id in wanted:
        if not 0 <= class_id < len(ann.classes) or class_id not in given:
            raise SearchClassNotFound(f"class {class_id} is not in the dataset or has no prompts", class_id=class_id)
    samples = [
        ClassSample(class_id=c, class_name=ann.classes[c], prompts=given[c], images=sample_images(
            ann, c, positives=int(options["sample_per_class"]), negatives=int(options["negatives_per_class"]),
            seed=int(options["seed"])))
        for c in wanted
    ]  # fmt: skip
    return ann, samples


def plan_recipe(layout: Layout, dataset_id: str, options: Mapping[str, Any]) -> Planned:
    """`phr_`: one class, its prompts (with their thresholds folded into the candidates), sampled images."""
    prompts = dedupe(str(p.get("prompt", "")) for p in options.get("prompts") or [])
    if not prompts:
        raise RecipePromptsRequired("prompts [{prompt, thresholds?}] are required")
    ann = read_annotations(dataset_ref(layout, dataset_id))
    class_id = int(options["class_id"])
    if not 0 <= class_id < len(ann.classes):
        raise RecipeClassNotFound(f"dataset {dataset_id} has no class {class_id}", class_id=class_id)
    images = sample_images(ann, class_id, positives=int(options["sample_size"]), negatives=int(options["negatives"]),
                           seed=int(options["seed"]))  # fmt: skip
    if not images:
        raise RecipeNoImagesSampled("no images could be sampled for this class")
    if not any(i.boxes for i in images):
        raise RecipeNoGtForClass(f"class {class_id} has no ground-truth boxes in the sample", class_id=class_id)
    return ann, [ClassSample(class_id=class_id, class_name=ann.classes[class_id], prompts=prompts, images=images)]


def start(
    jobs: JobManager, layout: Layout, *, mode: str, dataset_id: str, model_source: str, options: Mapping[str, Any]
) -> JobRecord:
    """Plan and queue a prompt-helper job of `mode` (suggest | search | recipe); ids are `ph_`/`phs_`/`phr_`."""
    planner = {"suggest": plan_suggest, "search": plan_search, "recipe": plan_recipe}[mode]
    _, samples = planner(layout, dataset_id, options)
    candidates_t = [float(t) for p in options.get("prompts") or [] for t in p.get("thresholds") or []]
    candidates_t += [float(t) for t in options.get("threshold_candidates") or []]
    plan = PromptJobPlan(
        mode=mode, dataset_id=dataset_id, model_source=model_source, classes=samples,
        score_threshold=float(options["score_threshold"]), max_dets=int(options["max_dets"]),
        iou_threshold=float(options["iou_threshold"]), precision_floor=float(options.get("precision_floor", 0.9)),
        threshold_candidates=candidates_t or None,
    )  # fmt: skip
    job_id = f"{ID_PREFIX[mode]}_{uuid.uuid4().hex[:12]}"
    return jobs.submit_kind(PROMPT_JOB_KINDS[mode], plan, job_id=job_id)

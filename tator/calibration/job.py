"""Calibration as a job: `run(plan, ctx)` turns a dataset's prepass candidates and ground truth into a calibrator
and a report, all under `ctx.run_dir`.

Steps (job phases): `prepass` (the candidates of every selected image: read from stored prepass records, where an
image without a record fails the job rather than counting as an image where nothing was found; or, without stored
records, the dataset prepass run here through its per-image cache), `train`
(features, labels, model, thresholds: `pipeline.evaluate_pool`), `report` (calibrator folder, report JSON /
Markdown / PR plot). The plan carries paths and plain values only; nothing here touches app state.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tator.calibration.cache import only_sources, read_record
from tator.calibration.models import ModelOptions
from tator.calibration.pipeline import CalibrationOptions, evaluate_pool
from tator.calibration.report import CALIBRATOR_DIR, build_report, write_outputs
from tator.calibration.samples import ImageSample, candidates_from_records
from tator.datasets.training import planned_dataset
from tator.errors import CalibrationCandidatesMissing
from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind
from tator.prepass.dataset import DatasetImage, DatasetPlan, prepass_dataset
from tator.prepass.models import LocalModels

KIND = "calibration"


class CalibrationPlan(BaseModel):
    """Everything the job needs, resolved by the server before it is queued."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    dataset_path: str = Field(description="Absolute folder of the dataset (its annotations give the ground truth).")
    classes: list[str] = Field(description="The dataset's labelmap, as planned (the job refuses a changed one).")
    prepass_dir: str | None = Field(default=None, description="Absolute folder of stored prepass records, or None.")
    prepass: DatasetPlan | None = Field(default=None, description="Without prepass_dir: the dataset prepass to run.")
    sources: list[str] = Field(description="Sources whose candidates and scores are used.")
    max_images: int = 2000
    seed: int = 42
    model: Literal["xgb", "mlp"] = "xgb"
    label_iou: float = 0.5
    eval_iou: float = 0.5
    recall_floor: float = 0.6
    per_class_thresholds: bool = True
    tune_fraction: float = 0.2
    test_fraction: float = 0.2
    ablation: bool = True
    xgb_rounds: int = 400
    xgb_depth: int = 6
    mlp_hidden: list[int] = Field(default_factory=lambda: [128, 64])
    mlp_epochs: int = 60


class CalibrationResult(BaseModel):
    run_dir: str
    calibrator_dir: str
    files: dict[str, str]
    metrics: dict[str, Any]
    recall_ceiling: float
    baselines: dict[str, Any]
    images: dict[str, int]


def options_of(plan: CalibrationPlan) -> CalibrationOptions:
    model = ModelOptions(
        kind=plan.model, seed=plan.seed, xgb_rounds=plan.xgb_rounds, xgb_depth=plan.xgb_depth,
        mlp_hidden=tuple(plan.mlp_hidden), mlp_epochs=plan.mlp_epochs,
    )  # fmt: skip
    return CalibrationOptions(
        model=model, label_iou=plan.label_iou, eval_iou=plan.eval_iou, recall_floor=plan.recall_floor,
        per_class=plan.per_class_thresholds, seed=plan.seed, tune_fraction=plan.tune_fraction,
        test_fraction=plan.test_fraction, ablation=plan.ablation,
    )  # fmt: skip


def load_samples(plan: CalibrationPlan, ctx: JobContext) -> list[ImageSample]:
    """Ground truth of the selected images (seeded shuffle, first `max_images`) with their cached candidates."""
    dataset = planned_dataset(plan.dataset_path, plan.classes)
    images = sorted(dataset.annotations.images, key=lambda i: i.path)
    random.Random(plan.seed).shuffle(images)
    images = images[: plan.max_images]
    computed = _run_prepass(plan, ctx, images) if plan.prepass is not None else {}
    folder = Path(plan.prepass_dir or ".")
    samples: list[ImageSample] = []
    missing: list[str] = []
    for n, image in enumerate(images):
        if n % 50 == 0:
            ctx.checkpoint()
            ctx.progress(0.3 * n / max(1, len(images)), f"prepass candidates {n}/{len(images)}", phase="prepass")
        records = computed.get(image.path) if plan.prepass is not None else read_record(folder, image.path)
        if records is None:
            missing.append(image.path)
            continue
        cands = candidates_from_records(only_sources(records, plan.sources), plan.classes)
        truths = [(obj.class_id, (obj.box.x1, obj.box.y1, obj.box.x2, obj.box.y2)) for obj in image.objects]
        samples.append(ImageSample(image.path, image.width, image.height, cands, truths))
    if missing:
        raise CalibrationCandidatesMissing(
            f"{len(missing)} of {len(images)} selected images have no prepass record; run the prepass over them first",
            missing=len(missing), example=missing[0][:256],
        )  # fmt: skip
    return samples


def _run_prepass(plan: CalibrationPlan, ctx: JobContext, images: list[Any]) -> dict[str, list[dict[str, Any]]]:
    """Step 1 without stored records: the dataset prepass over the selected images (per-image cache, so a
    rerun or a prepass job with the same config reuses its results); models are loaded here, in the job."""
    assert plan.prepass is not None
    selected = plan.prepass.model_copy(update={"images": [DatasetImage(path=i.path, split=i.split) for i in images]})
    models = LocalModels(ctx.device)

    def progress(done: int, total: int, cached: int) -> None:
        ctx.progress(0.3 * done / max(1, total), f"prepass {done}/{total} ({cached} cached)", phase="prepass")

    try:
        records = prepass_dataset(selected, models, checkpoint=ctx.checkpoint, progress=progress)
    finally:
        models.close()
    return {r.image: [c.model_dump() for c in r.candidates] for r in records}


def run(plan: CalibrationPlan, ctx: JobContext) -> CalibrationResult:
    """Load candidates, fit and evaluate the calibrator, write it and the report into the run dir."""
    samples = load_samples(plan, ctx)
    ctx.log(f"calibration: {len(samples)} images, {sum(len(s.candidates) for s in samples)} candidates")
    options = options_of(plan)

    def progress(fraction: float, message: str) -> None:
        ctx.checkpoint()
        ctx.progress(0.3 + 0.6 * fraction, message, phase="train")

    fitted, figures = evaluate_pool(samples, plan.classes, options, progress)
    ctx.checkpoint()
    ctx.progress(0.92, "writing the calibrator and the report", phase="report")
    report = build_report(fitted, figures, plan.classes, options, len(samples))
    files = write_outputs(ctx.run_dir, fitted, figures, report)
    total = report["test"]["total"]
    for name in ("precision", "recall", "f1"):
        ctx.metric(f"test_{name}", 0, float(total[name]))
    return CalibrationResult(
        run_dir=str(ctx.run_dir), calibrator_dir=str(ctx.run_dir / CALIBRATOR_DIR), files=files, metrics=total,
        recall_ceiling=report["recall_ceiling"], baselines=report["baselines"], images=report["images"],
    )  # fmt: skip


CALIBRATION = JobKind(KIND, run, CalibrationPlan, CalibrationResult, resource="gpu", resumable=True)  # runs the prepass

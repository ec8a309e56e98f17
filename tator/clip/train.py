"""The `/clip/train` job: crops -> embeddings (cached) -> split by image -> head -> metrics -> publish.

Phases report progress as `crops`, `embed`, `fit`, `evaluate`, `publish`. Cancellation is honoured between
embedding batches and solver chunks / epochs, and once more before publishing: a late cancel leaves the
run dir but publishes nothing. On success the head (`.npz`) is linked into `uploads/classifiers` and its
labelmap (`.txt`) into `uploads/labelmaps`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tator.clip.backbones import Backbone, backbone_fingerprint
from tator.clip.cache import EmbeddingCache
from tator.clip.crops import BACKGROUND, drop_rare_classes, plan_crops
from tator.clip.dataset_embed import EmbeddedCrops, embed_plans
from tator.clip.embed import encoder_info
from tator.clip.evaluate import evaluate
from tator.clip.fit import FitResult, Split, fit_logreg, sample_weights, split_by_image
from tator.clip.head import BACKGROUND_PREFIX, HEAD_EXTENSION, ClassifierHead, build_head, save_head
from tator.clip.library import link_once
from tator.clip.mlp import MlpOptions, fit_mlp
from tator.clip.params import KIND, ClipTrainOutput, ClipTrainPlan
from tator.datasets.formats.model import DatasetAnnotations
from tator.datasets.labels import labelmap_text
from tator.datasets.training import planned_dataset
from tator.errors import ClipTooFewClasses, InternalError
from tator.jobs.context import JobContext
from tator.jobs.kinds import Completion, JobKind
from tator.jobs.types import JobRecord
from tator.storage.files import atomic_write_json, atomic_write_text, remove_tree

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipRoots:
    """Where training publishes and caches: heads and labelmaps, the embedding cache, upload staging."""

    classifiers: Path
    labelmaps: Path
    cache: Path
    staging: Path


@dataclass(frozen=True)
class Labelled:
    classes: list[str]
    y: np.ndarray
    keep: np.ndarray  # rows that have a class (background rows without a training cluster are dropped)


def train(plan: ClipTrainPlan, ctx: JobContext) -> ClipTrainOutput:
    """The job function; a staged upload (`dataset_source == "upload"`) is removed whatever happens."""
    try:
        source = "clip_upload" if plan.dataset_source == "upload" else "registry"
        annotations = planned_dataset(plan.dataset_path, plan.classes, source=source).annotations
        return _train(plan, ctx, annotations)
    finally:
        if plan.dataset_source == "upload":
            remove_tree(Path(plan.dataset_path))


def complete_training(roots: ClipRoots) -> Completion:
    """The completion step (in the server): link the head and its labelmap into the libraries, once."""

    def complete(record: JobRecord) -> dict[str, Any]:
        plan = ClipTrainPlan.model_validate(record.params)
        output = ClipTrainOutput.model_validate(record.result or {})
        model = link_once(Path(output.head_path), roots.classifiers, plan.model_stem, HEAD_EXTENSION)
        labelmap = link_once(Path(output.run_labelmap_path), roots.labelmaps, plan.labelmap_stem, ".txt")
        log.info("clip.published job=%s model=%s", record.job_id, model.name)
        return {
            "model_path": str(model), "model_rel_path": model.relative_to(roots.classifiers).as_posix(),
            "labelmap_path": str(labelmap), "labelmap_rel_path": labelmap.relative_to(roots.labelmaps).as_posix(),
        }  # fmt: skip

    return complete


CLIP_TRAIN = JobKind(KIND, train, ClipTrainPlan, ClipTrainOutput, resource="gpu")


def _train(plan: ClipTrainPlan, ctx: JobContext, annotations: DatasetAnnotations) -> ClipTrainOutput:
    if ctx.models is None:
        raise InternalError("this executor gives jobs no model access")
    req, timings, started = plan.request, {}, time.perf_counter()
    ctx.progress(0.01, "planning crops", phase="crops")
    plans = plan_crops(annotations, bg_per_image=req.bg_per_image if req.bg_class_count else 0,
                       max_bg_share=req.max_bg_share, seed=req.random_seed, padding=req.crop_padding)  # fmt: skip
    plans, dropped = drop_rare_classes(plans, req.min_per_class)
    if dropped:
        ctx.log(f"dropped classes with fewer than {req.min_per_class} boxes: {[plan.classes[c] for c in dropped]}")
    timings["crops_s"] = time.perf_counter() - started
    backbone = Backbone(plan.encoder_type, plan.backbone_name, plan.backbone_source)
    cache = EmbeddingCache(Path(plan.cache_dir), backbone_fingerprint(backbone),
                           f"padded_square:{req.crop_padding:.4f}", enabled=req.reuse_embeddings)  # fmt: skip
    with ctx.models.use(backbone.spec, exclusive=False) as handle:
        info, device = encoder_info(handle), str(handle.device)
        ctx.log(f"embedding {sum(len(p.boxes) for p in plans)} crops from {len(plans)} images with {backbone.source}")
        embedded = embed_plans(plans, handle, cache, padding=req.crop_padding, batch_size=req.batch_size,
                               cancel=ctx.cancel, progress=lambda d, t: ctx.progress(
                                   0.05 + 0.6 * d / max(t, 1), f"embedded {d}/{t} crops", phase="embed"))  # fmt: skip
    timings["embed_s"] = embedded.seconds
    ctx.log(f"embeddings: {cache.stats.crops_from_cache} crops from cache, {cache.stats.crops_embedded} embedded "
            f"in {embedded.seconds:.2f}s")  # fmt: skip
    split = split_by_image(embedded.labels, embedded.groups, test_size=req.test_size, seed=req.random_seed)
    labelled = assign_classes(plan.classes, embedded, split, k=req.bg_class_count, seed=req.random_seed)
    split = Split(np.intersect1d(split.train, np.flatnonzero(labelled.keep)),
                  np.intersect1d(split.test, np.flatnonzero(labelled.keep)), split.mode)  # fmt: skip
    if len(set(labelled.y[split.train].tolist())) < 2:
        raise ClipTooFewClasses("after filtering, fewer than two classes are left to train on")
    fit_started = time.perf_counter()
    fitted = _fit(plan, ctx, embedded, labelled, split)
    timings["fit_s"] = time.perf_counter() - fit_started
    head = _head(plan, info.dim, labelled, split, fitted, ctx)
    ctx.progress(0.95, "evaluating", phase="evaluate")
    rows = split.test if len(split.test) else split.train
    metrics = evaluate(head.predict_proba(embedded.embeddings[rows]), labelled.y[rows], head.classes,
                       labelled.y[split.train])  # fmt: skip
    metrics["evaluated_on"] = "held_out_images" if len(split.test) else "train"
    head.meta["accuracy"] = metrics["accuracy"]
    timings["total_s"] = time.perf_counter() - started
    extra = _summary(split, fitted, cache, timings, dropped, plan) | {"device": device}
    return _save(plan, ctx, head, metrics, extra=extra)


def assign_classes(names: list[str], embedded: EmbeddedCrops, split: Split, *, k: int, seed: int) -> Labelled:
    """Final classes (kept object classes in labelmap order, then `__bg_0..`) and each row's index.

    Background rows are clustered with KMeans fitted on training rows only; test rows get the nearest
    cluster, so no held-out embedding shapes the pseudo-classes."""
    from sklearn.cluster import KMeans

    labels = embedded.labels
    object_ids = sorted({int(c) for c in labels.tolist() if c != BACKGROUND})
    classes = [names[c] for c in object_ids]
    index = {c: i for i, c in enumerate(object_ids)}
    y = np.asarray([index.get(int(c), -1) for c in labels], dtype=np.int64)
    keep = y >= 0
    is_bg = labels == BACKGROUND
    train_bg = np.intersect1d(split.train, np.flatnonzero(is_bg))
    if k > 0 and len(train_bg):
        n_clusters = max(1, min(k, len(train_bg)))
        if n_clusters == 1:
            cluster = np.zeros(int(is_bg.sum()), dtype=np.int64)
        else:
            model = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(embedded.embeddings[train_bg])
            cluster = model.predict(embedded.embeddings[is_bg]).astype(np.int64)
        y[is_bg] = len(classes) + cluster
        classes += [f"{BACKGROUND_PREFIX}{j}" for j in range(n_clusters)]
        keep = keep | is_bg
    return Labelled(classes, y, keep)


def _fit(plan: ClipTrainPlan, ctx: JobContext, embedded: EmbeddedCrops, labelled: Labelled, split: Split) -> FitResult:
    req = plan.request
    x, y = embedded.embeddings[split.train], labelled.y[split.train]
    weights = sample_weights(y, len(labelled.classes), req.class_weight)
    ctx.progress(0.7, f"fitting {req.classifier_type} on {len(y)} crops", phase="fit")

    def on_step(step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            ctx.metric(name, step, value)

    if req.classifier_type == "mlp":
        options = MlpOptions(
            hidden=tuple(req.hidden_sizes()), activation=req.mlp_activation, epochs=req.mlp_epochs, lr=req.mlp_lr,
            weight_decay=req.mlp_weight_decay, dropout=req.mlp_dropout, label_smoothing=req.mlp_label_smoothing,
            batch_size=req.mlp_batch_size, patience=req.mlp_patience, seed=req.random_seed,
        )  # fmt: skip
        groups = embedded.groups[split.train]
        return fit_mlp(x, y, weights, groups, n_classes=len(labelled.classes), options=options, cancel=ctx.cancel,
                       on_step=on_step)  # fmt: skip
    return fit_logreg(x, y, weights, n_classes=len(labelled.classes), c=req.C, solver=req.solver,
                      max_iter=req.max_iter, cancel=ctx.cancel, on_step=on_step)  # fmt: skip


def _head(
    plan: ClipTrainPlan, dim: int, labelled: Labelled, split: Split, fitted: FitResult, ctx: JobContext
) -> ClassifierHead:
    req = plan.request
    counts = np.bincount(labelled.y[split.train], minlength=len(labelled.classes))
    meta: dict[str, Any] = {
        "encoder_type": plan.encoder_type, "encoder_model": plan.backbone_source,
        "clip_model": plan.backbone_name if plan.encoder_type == "clip" else None, "embedding_dim": dim,
        "classifier_type": req.classifier_type, "solver": req.solver if req.classifier_type == "logreg" else "adamw",
        "normalize_embeddings": True, "crop_mode": "padded_square", "crop_padding": req.crop_padding,
        "labelmap": [c for c in labelled.classes if not c.startswith(BACKGROUND_PREFIX)],
        "class_counts": counts.tolist(), "class_priors": (counts / max(counts.sum(), 1)).tolist(),
        "n_samples_train": int(len(split.train)), "n_samples_test": int(len(split.test)),
        "dataset_id": plan.dataset_id, "job_id": ctx.job_id, "created_at": time.time(),
        "logit_adjustment_inference": req.logit_adjustment_inference,
        "min_prob": 0.5, "margin": 0.0, "bg_margin": 0.0,
    }  # fmt: skip
    return build_head(labelled.classes, fitted.layers, activation=fitted.activation, meta=meta)


def _summary(split: Split, fitted: FitResult, cache: EmbeddingCache, timings: dict[str, float],
             dropped: list[int], plan: ClipTrainPlan) -> dict[str, Any]:  # fmt: skip
    return {
        "split_mode": split.mode, "iterations_run": fitted.iterations_run, "converged": fitted.converged,
        "convergence_trace": fitted.trace, "dropped_classes": [plan.classes[c] for c in dropped],
        "cache": vars(cache.stats) | {"enabled": cache.enabled},
        "timings": {k: round(v, 4) for k, v in timings.items()},
    }  # fmt: skip


def _save(plan: ClipTrainPlan, ctx: JobContext, head: ClassifierHead, metrics: dict[str, Any],
          *, extra: dict[str, Any]) -> ClipTrainOutput:  # fmt: skip
    ctx.progress(0.97, "saving", phase="publish")
    head_path, labelmap_path = ctx.run_dir / f"head{HEAD_EXTENSION}", ctx.run_dir / "labelmap.txt"
    save_head(head, head_path)
    atomic_write_text(labelmap_path, labelmap_text(head.meta["labelmap"]))
    ctx.checkpoint()  # a cancel that arrived during fitting stops here: nothing is published
    result = {
        "head_path": str(head_path), "run_labelmap_path": str(labelmap_path),
        "meta_path": None, "classes_seen": list(head.classes), "samples_train": head.meta["n_samples_train"],
        "samples_test": head.meta["n_samples_test"], "clip_model": head.meta["clip_model"],
        "encoder_type": plan.encoder_type, "encoder_model": plan.backbone_source, "embedding_dim": head.embedding_dim,
        "classifier_type": plan.request.classifier_type, **metrics, **extra,
    }  # fmt: skip
    atomic_write_json(ctx.run_dir / "metrics.json", result)
    ctx.log(f"saved the head (accuracy {metrics['accuracy']}); publishing it")
    log.info("clip.trained job=%s accuracy=%s", ctx.job_id, metrics["accuracy"])
    return ClipTrainOutput.model_validate(result)

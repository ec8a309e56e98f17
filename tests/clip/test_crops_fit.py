"""Crop planning (background sampling, caps), the split by image, class weights, and cancellable fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tator.annotations import BBox
from tator.clip.crops import BACKGROUND, drop_rare_classes, plan_crops, sample_background
from tator.clip.embed import square_box
from tator.clip.fit import fit_logreg, sample_weights, split_by_image
from tator.clip.mlp import MlpOptions, fit_mlp
from tator.datasets.formats.model import DatasetAnnotations, ImageAnnotation, ObjectAnnotation
from tator.jobs.context import CancelToken, JobCancelled
from tator.vision.boxes import box_iou


def _annotations(n: int = 6) -> DatasetAnnotations:
    images = []
    for i in range(n):
        objects = (ObjectAnnotation(i % 3, BBox(10, 10, 30, 30)), ObjectAnnotation((i + 1) % 3, BBox(60, 60, 90, 85)))
        images.append(ImageAnnotation("train", f"train/images/{i:03d}.png", 128, 128, objects))
    return DatasetAnnotations(Path("/nowhere"), ("a", "b", "c"), tuple(images))


def test_background_boxes_avoid_objects_and_each_other() -> None:
    image = _annotations().images[0]
    objects = [o.box for o in image.objects]
    boxes = sample_background(image, objects, count=4, rng=np.random.default_rng(0), padding=0.08)
    assert 1 <= len(boxes) <= 4
    found = np.asarray(boxes, dtype=np.float32)
    padded = np.asarray([square_box(b, padding=0.08) for b in objects], dtype=np.float32)
    assert box_iou(found, padded).max() <= 0.05
    pairwise = box_iou(found, found) - np.eye(len(found))
    assert pairwise.max() <= 0.3
    assert (found[:, 0] >= 0).all() and (found[:, 2] <= 128).all()


def test_plans_are_deterministic_and_background_is_capped() -> None:
    ann = _annotations()
    first = plan_crops(ann, bg_per_image=5, max_bg_share=0.25, seed=7, padding=0.08)
    assert first == plan_crops(ann, bg_per_image=5, max_bg_share=0.25, seed=7, padding=0.08)
    labels = [lab for plan in first for lab in plan.labels]
    assert labels.count(BACKGROUND) <= int(0.25 / 0.75 * (len(labels) - labels.count(BACKGROUND)))
    assert all(lab != BACKGROUND for plan in first for lab in plan.labels[:2])  # objects first


def test_rare_classes_are_dropped() -> None:
    plans = plan_crops(_annotations(2), bg_per_image=0, max_bg_share=0.4, seed=0, padding=0.08)
    kept, dropped = drop_rare_classes(plans, 2)
    assert dropped == [0, 2] and {lab for p in kept for lab in p.labels} == {1}


def test_split_holds_out_whole_images() -> None:
    groups = np.repeat(np.arange(20), 3)
    labels = np.tile([0, 1, 2], 20)
    split = split_by_image(labels, groups, test_size=0.25, seed=0)
    assert split.mode == "by_image" and len(split.test) > 0
    assert not set(groups[split.train].tolist()) & set(groups[split.test].tolist())
    assert split_by_image(labels[:3], groups[:3], test_size=0.2, seed=0).mode == "none"


def test_class_weights_balance_the_classes() -> None:
    y = np.array([0] * 90 + [1] * 10)
    for mode in ("balanced", "effective"):
        w = sample_weights(y, 2, mode)
        assert w[y == 0].sum() == pytest.approx(w[y == 1].sum(), rel=0.05)
    assert (sample_weights(y, 2, "none") == 1).all()


def _blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 3
    y = np.repeat(np.arange(3), 40)
    return (centres[y] + rng.normal(size=(120, 16))).astype(np.float32), y, np.arange(120) // 4


def test_logreg_and_mlp_fit_and_trace() -> None:
    x, y, groups = _blobs()
    w = np.ones(len(y))
    reg = fit_logreg(x, y, w, n_classes=3, c=1.0, solver="lbfgs", max_iter=200, cancel=CancelToken())
    assert reg.converged and reg.trace and reg.trace[-1]["train_accuracy"] > 0.9
    mlp = fit_mlp(x, y, w, groups, n_classes=3, options=MlpOptions(hidden=(16,), epochs=30), cancel=CancelToken())
    assert [layer[0].shape for layer in mlp.layers] == [(16, 16), (3, 16)] and mlp.trace[-1]["train_accuracy"] > 0.9


def test_fits_stop_when_cancelled() -> None:
    x, y, groups = _blobs()
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(JobCancelled):
        fit_logreg(x, y, np.ones(len(y)), n_classes=3, c=1.0, solver="lbfgs", max_iter=200, cancel=cancel)
    with pytest.raises(JobCancelled):
        fit_mlp(x, y, np.ones(len(y)), groups, n_classes=3, options=MlpOptions(), cancel=cancel)

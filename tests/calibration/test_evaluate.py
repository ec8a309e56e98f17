from __future__ import annotations

import contextlib
import io
import random

import pytest

from tator.calibration.evaluate import Box, Counts, Scored, class_curves, evaluate, evaluate_at, pr_points

CLASSES = ("car", "tank", "truck")


def _box(x: float, y: float, w: float = 10, h: float = 10) -> Box:
    return (x, y, x + w, y + h)


def test_false_positive_on_image_without_ground_truth_is_counted() -> None:
    truths = {"a.png": [(0, _box(0, 0))]}
    preds = [Scored("a.png", 0, _box(0, 0), 0.9), Scored("empty.png", 0, _box(5, 5), 0.8)]
    result = evaluate(preds, truths, ["a.png", "empty.png"], CLASSES)
    assert result.per_class[0] == Counts(tp=1, fp=1, fn=0)
    assert result.total.precision == 0.5


def test_false_positive_of_a_class_absent_from_the_image_is_counted() -> None:
    truths = {"a.png": [(0, _box(0, 0))]}
    preds = [Scored("a.png", 0, _box(0, 0), 0.9), Scored("a.png", 1, _box(0, 0), 0.9)]
    result = evaluate(preds, truths, ["a.png"], CLASSES)
    assert result.per_class[1] == Counts(tp=0, fp=1, fn=0)
    assert result.total == Counts(tp=1, fp=1, fn=0)


def test_ground_truth_on_image_without_candidates_is_a_miss() -> None:
    truths = {"a.png": [(0, _box(0, 0))], "b.png": [(0, _box(0, 0)), (2, _box(20, 20))]}
    preds = [Scored("a.png", 0, _box(0, 0), 0.9)]
    result = evaluate(preds, truths, ["a.png", "b.png"], CLASSES)
    assert result.per_class[0] == Counts(tp=1, fp=0, fn=1)
    assert result.per_class[2] == Counts(tp=0, fp=0, fn=1)
    assert result.total.recall == pytest.approx(1 / 3)


def test_duplicates_of_one_ground_truth_box_count_once() -> None:
    truths = {"a.png": [(0, _box(0, 0))]}
    preds = [
        Scored("a.png", 0, _box(0, 0), 0.9),
        Scored("a.png", 0, _box(1, 0), 0.8),
        Scored("a.png", 0, _box(0, 1), 0.7),
    ]
    result = evaluate(preds, truths, ["a.png"], CLASSES)
    assert result.per_class[0] == Counts(tp=1, fp=2, fn=0)


def test_iou_threshold_and_class_both_decide_a_match() -> None:
    truths = {"a.png": [(0, _box(0, 0))]}
    # IoU of a 10x10 box shifted by 5 px: 50 / 150 = 1/3
    shifted = [Scored("a.png", 0, _box(5, 0), 0.9)]
    assert evaluate(shifted, truths, ["a.png"], CLASSES, iou=0.3).total == Counts(1, 0, 0)
    assert evaluate(shifted, truths, ["a.png"], CLASSES, iou=0.5).total == Counts(0, 1, 1)
    wrong_class = [Scored("a.png", 1, _box(0, 0), 0.9)]
    assert evaluate(wrong_class, truths, ["a.png"], CLASSES).total == Counts(0, 1, 1)


def test_higher_score_claims_the_box_first() -> None:
    truths = {"a.png": [(0, _box(0, 0))]}
    preds = [Scored("a.png", 0, _box(3, 0), 0.2), Scored("a.png", 0, _box(0, 0), 0.9)]
    curves = class_curves(preds, truths, ["a.png"], len(CLASSES), iou=0.5)
    assert curves[0].is_tp.tolist() == [True, False]
    assert evaluate_at(curves, CLASSES, {0: 0.5}, iou=0.5).per_class[0] == Counts(1, 0, 0)
    assert evaluate_at(curves, CLASSES, {0: 0.95}, iou=0.5).per_class[0] == Counts(0, 0, 1)


def test_prediction_outside_the_evaluated_images_is_refused() -> None:
    with pytest.raises(ValueError, match="not an evaluated image"):
        evaluate([Scored("x.png", 0, _box(0, 0), 1.0)], {}, ["a.png"], CLASSES)


def test_pr_points_run_from_high_precision_to_full_recall() -> None:
    truths = {"a.png": [(0, _box(0, 0)), (1, _box(30, 30))]}
    preds = [
        Scored("a.png", 0, _box(0, 0), 0.9),
        Scored("a.png", 1, _box(60, 60), 0.5),
        Scored("a.png", 1, _box(30, 30), 0.3),
    ]
    thr, precision, recall = pr_points(class_curves(preds, truths, ["a.png"], len(CLASSES), iou=0.5))
    assert thr == [0.9, 0.5, 0.3]
    assert precision == pytest.approx([1.0, 0.5, 2 / 3])
    assert recall == pytest.approx([0.5, 0.5, 1.0])


def _random_case(seed: int) -> tuple[list[Scored], dict[str, list[tuple[int, Box]]], list[str]]:
    rng = random.Random(seed)
    images = [f"{n}.png" for n in range(12)]
    truths: dict[str, list[tuple[int, Box]]] = {}
    preds: list[Scored] = []
    for image in images:
        gt = [(rng.randrange(3), _box(rng.uniform(0, 80), rng.uniform(0, 80), rng.uniform(5, 30), rng.uniform(5, 30)))
              for _ in range(rng.randrange(0, 5))]  # fmt: skip
        truths[image] = gt
        for class_id, (x1, y1, x2, y2) in gt:
            for _ in range(rng.randrange(0, 3)):  # jittered copies: hits, duplicates and near misses
                j = [rng.uniform(-4, 4) for _ in range(4)]
                cls = class_id if rng.random() < 0.85 else rng.randrange(3)
                preds.append(Scored(image, cls, (x1 + j[0], y1 + j[1], x2 + j[2], y2 + j[3]), round(rng.random(), 4)))
        for _ in range(rng.randrange(0, 3)):  # background false positives, images without GT included
            preds.append(Scored(image, rng.randrange(3), _box(rng.uniform(0, 90), rng.uniform(0, 90)), rng.random()))
    return preds, truths, images


def _coco_counts(
    preds: list[Scored], truths: dict[str, list[tuple[int, Box]]], images: list[str], iou: float
) -> Counts:
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ids = {image: n + 1 for n, image in enumerate(images)}
    anns = [
        {"id": k + 1, "image_id": ids[image], "category_id": c + 1, "iscrowd": 0,
         "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]], "area": (b[2] - b[0]) * (b[3] - b[1])}
        for k, (image, c, b) in enumerate((i, c, b) for i in images for c, b in truths[i])
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": v} for v in ids.values()], "annotations": anns,
                      "categories": [{"id": c + 1} for c in range(len(CLASSES))]}  # fmt: skip
        gt.createIndex()
        dets = [{"image_id": ids[p.image], "category_id": p.class_id + 1, "score": p.score,
                 "bbox": [p.box[0], p.box[1], p.box[2] - p.box[0], p.box[3] - p.box[1]]} for p in preds]  # fmt: skip
        coco_eval = COCOeval(gt, gt.loadRes(dets), "bbox")
        coco_eval.params.iouThrs = np.array([iou])
        coco_eval.params.maxDets = [10_000]
        coco_eval.params.areaRng, coco_eval.params.areaRngLbl = [[0, 1e10]], ["all"]
        coco_eval.evaluate()
    tp = fp = n_gt = 0
    for record in coco_eval.evalImgs:
        if record is None:
            continue
        matched = int((record["dtMatches"][0] > 0).sum())
        tp, fp, n_gt = tp + matched, fp + len(record["dtIds"]) - matched, n_gt + len(record["gtIds"])
    return Counts(tp, fp, n_gt - tp)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("iou", [0.5, 0.75])
def test_counts_agree_with_pycocotools(seed: int, iou: float) -> None:
    preds, truths, images = _random_case(seed)
    ours = evaluate(preds, truths, images, CLASSES, iou=iou).total
    assert ours.tp > 0 and ours.fp > 0 and ours.fn > 0
    assert ours == _coco_counts(preds, truths, images, iou)

"""The contour step on known masks: traced polygons give the true shapes back, and beat their boxes."""

from __future__ import annotations

import numpy as np

from tator.annotations import BBox
from tator.segmentation.polygons import TraceOptions, box_polygon, trace_polygon
from tator.vision.masks import mask_iou, polygon_mask
from tator.zoo.synthetic import SyntheticDataset


def _iou(polygon: tuple[float, ...] | None, truth: np.ndarray) -> float:
    assert polygon is not None
    return mask_iou(polygon_mask(polygon, truth.shape[1], truth.shape[0]), truth)


def test_polygons_from_true_masks_match_the_shapes_far_better_than_boxes(
    synthetic_dataset: SyntheticDataset,
) -> None:
    polygon_ious, box_ious = [], []
    for image in synthetic_dataset.images:
        for truth in image.boxes:
            mask = truth.mask(image.width, image.height)
            polygon_ious.append(_iou(trace_polygon(mask, truth.box).polygon, mask))
            box_ious.append(_iou(box_polygon(truth.box), mask))
    assert len(polygon_ious) > 50
    assert np.mean(polygon_ious) > 0.98 and min(polygon_ious) > 0.9
    assert np.mean(box_ious) < 0.85  # circles and triangles fill ~79% and ~50% of their boxes


def test_largest_component_by_default_all_components_bridged_on_request() -> None:
    mask = np.zeros((60, 60), dtype=bool)
    mask[5:25, 5:25] = True  # 400 px
    mask[35:45, 35:50] = True  # 150 px
    whole = BBox(0, 0, 60, 60)
    largest = trace_polygon(mask, whole).polygon
    assert _iou(largest, mask[:, :]) == 400 / 550
    both = trace_polygon(mask, whole, TraceOptions(components="all")).polygon
    assert _iou(both, mask) > 0.95


def test_concavities_are_kept_and_simplification_scales_with_the_object() -> None:
    mask = np.zeros((200, 200), dtype=bool)
    mask[20:180, 20:180] = True
    mask[60:180, 80:120] = False  # a U: the reference's convex hull would fill the notch
    traced = trace_polygon(mask, BBox(20, 20, 180, 180)).polygon
    assert _iou(traced, mask) > 0.97
    coarse = trace_polygon(mask, BBox(20, 20, 180, 180), TraceOptions(simplify_ratio=0.5, max_epsilon=2.0))
    assert _iou(coarse.polygon, mask) > 0.97  # the pixel cap bounds a huge ratio


def test_unusable_masks_name_their_reason() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    box = BBox(10, 10, 30, 30)
    assert trace_polygon(mask, box).reason == "empty_mask"
    mask[0:5, 0:5] = True  # outside the box: clipped away
    assert trace_polygon(mask, box).reason == "empty_mask"
    assert trace_polygon(mask, box, TraceOptions(clip_to_box=False)).polygon is not None
    mask[12:16, 12:16] = True
    assert trace_polygon(mask, box, TraceOptions(min_area=20)).reason == "small_mask"
    line = np.zeros((40, 40), dtype=bool)
    line[20, 10:30] = True  # one pixel tall: no area
    assert trace_polygon(line, box).reason == "degenerate"

from __future__ import annotations

import numpy as np
import pytest

from tator.vision.boxes import (
    box_iou,
    classwise_nms,
    clip_xyxy,
    xywh_to_xyxy,
    xyxy_to_xywh,
    xyxy_to_yolo,
    yolo_to_xyxy,
)


def test_conversions_round_trip() -> None:
    xyxy = np.array([[10, 20, 50, 80], [0, 0, 640, 480]], dtype=np.float32)
    assert np.allclose(xywh_to_xyxy(xyxy_to_xywh(xyxy)), xyxy)
    assert np.allclose(xyxy_to_xywh(xyxy)[0], [10, 20, 40, 60])
    yolo = xyxy_to_yolo(xyxy, 640, 480)
    assert np.allclose(yolo[1], [0.5, 0.5, 1.0, 1.0])
    assert np.allclose(yolo_to_xyxy(yolo, 640, 480), xyxy, atol=1e-4)


def test_clip() -> None:
    assert clip_xyxy(np.array([[-5, -5, 700, 10]], np.float32), 640, 480).tolist() == [[0, 0, 640, 10]]


def test_iou_values() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    assert box_iou(a, b)[0].tolist() == pytest.approx([1.0, 50 / 150, 0.0])
    assert box_iou(a, np.zeros((0, 4), np.float32)).shape == (1, 0)


def test_nms_is_per_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [1, 0, 11, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    classes = np.array([0, 0, 1])
    assert classwise_nms(boxes, scores, classes, 0.5).tolist() == [0, 2]


def test_detector_boxes_stay_float32_and_annotation_boxes_keep_every_digit() -> None:
    detector = np.array([[1.5, 2.5, 3.5, 4.5]], np.float32)
    assert xyxy_to_xywh(detector).dtype == np.float32 and clip_xyxy(detector, 4, 4).dtype == np.float32
    box = (123.456789012, 7.000000001, 300.123456789, 99.999999999)
    assert xyxy_to_xywh(box).dtype == np.float64
    assert xywh_to_xyxy(xyxy_to_xywh(box))[0].tolist() == pytest.approx(box, abs=1e-9)
    yolo = xyxy_to_yolo(box, 641, 479)
    assert yolo_to_xyxy(yolo, 641, 479)[0].tolist() == pytest.approx(box, abs=1e-9)

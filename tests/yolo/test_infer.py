"""How our RGB images reach ultralytics, which reads numpy arrays as BGR: either the loaded network reads
RGB as given (its first convolution's input channels reversed once at load) or each image is swapped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tator.runtime.loaders import ModelSpec
from tator.vision.detection import Detections
from tator.yolo.infer import YoloOptions, batch_detector, to_bgr
from tator.yolo.loader import YoloHandle, load, read_rgb_as_given


def test_to_bgr_swaps_channels_exactly() -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (97, 131, 3), dtype=np.uint8)
    bgr = to_bgr(rgb)
    assert bgr.dtype == np.uint8 and bgr.flags.c_contiguous
    assert np.array_equal(bgr, rgb[:, :, ::-1])
    assert np.array_equal(rgb, np.random.default_rng(0).integers(0, 255, (97, 131, 3), dtype=np.uint8))  # untouched
    view = rgb[10:50, 20:90]  # a crop (window) is not contiguous: still right
    assert np.array_equal(to_bgr(view), view[:, :, ::-1]) and to_bgr(view).flags.c_contiguous


def _loaded(path: Path) -> YoloHandle:
    handle = load(ModelSpec("yolo", str(path)), "cpu").value
    assert isinstance(handle, YoloHandle)
    return handle


def _rows(found: Detections) -> np.ndarray:
    return np.column_stack([found.classes.astype(np.float32), found.scores, found.boxes])


def assert_same_detections(mine: Detections, expected: Detections, atol: float = 1e-3) -> None:
    """As many detections, each matching one of the other's (class, score and box within `atol`); order
    aside, which near-equal scores may swap."""
    ours, theirs = _rows(mine), _rows(expected)
    assert len(ours) > 0 and ours.shape == theirs.shape
    distance = np.abs(ours[:, None, :] - theirs[None, :, :]).max(axis=2)
    assert (distance.min(axis=1) <= atol).all() and (distance.min(axis=0) <= atol).all()


def _image(seed: int, height: int = 150, width: int = 200) -> np.ndarray:
    """Smooth colour blobs (not noise), each channel different, so a channel mix-up changes the answer."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.kron(small, np.ones((25, 25, 1), dtype=np.uint8))[:height, :width])


@pytest.fixture(scope="module")
def yolov8n(tmp_path_factory: pytest.TempPathFactory, model_config_dir: Path) -> Path:
    """A YOLOv8n with random weights whose scores vary with the pixels: ultralytics' own initialisation
    shrinks the signal layer by layer (every score is its class prior, as with the tiny zoo's model), so
    the convolutions are drawn to keep it, and the class branch is scaled to spread the scores over 0..1."""
    from ultralytics import YOLO

    assert model_config_dir.is_dir()  # offline switches set
    torch.manual_seed(0)
    model = YOLO("yolov8n.yaml")
    for module in model.model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    for branch in model.model.model[-1].cv3:
        branch[-1].weight.data.mul_(100)
    path = tmp_path_factory.mktemp("yolov8n") / "random.pt"
    model.save(str(path))
    return path


def test_loaded_network_reads_rgb_as_given(yolov8n: Path) -> None:
    """The loaded network on reversed channels computes what the checkpoint's network computes on them as
    they are, and our detector on RGB finds what ultralytics finds on the same image swapped to BGR, for a
    whole image and for a crop view."""
    from ultralytics import YOLO

    handle = _loaded(yolov8n)
    assert handle.reads_rgb
    plain = YOLO(str(yolov8n))
    pixels = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        ours, theirs = handle.model.model.eval()(pixels.flip(1)), plain.model.eval()(pixels)
    assert torch.allclose(ours[0], theirs[0], atol=1e-4)

    options = YoloOptions(conf=0.9, max_det=300, imgsz=128)
    detect = batch_detector(handle, options)
    images = [_image(0), _image(1)[20:140, 30:170]]  # the second one is a crop view
    assert not images[1].flags.c_contiguous
    found = [detect([image])[0] for image in images]
    for image, mine in zip(images, found, strict=True):
        boxes = plain.predict(to_bgr(image), imgsz=128, conf=0.9, iou=0.45, max_det=300, verbose=False)[0].boxes
        expected = Detections(boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(np.int64))
        assert_same_detections(mine, expected)
    swapped = detect([np.ascontiguousarray(images[0][:, :, ::-1])])[0]  # reading BGR as given would differ
    with pytest.raises(AssertionError):
        assert_same_detections(swapped, found[0])


def test_swaps_images_when_the_first_layer_is_not_a_plain_conv(tiny_zoo: dict[str, Path]) -> None:
    """A network whose first layer is not a 3-channel convolution is left as it is, and its detector
    swaps each image to BGR instead."""
    handle = _loaded(tiny_zoo["yolo"])
    network = handle.model.model
    before = network.model[0].conv.weight.detach().clone()
    network.model[0].conv.groups = 3
    assert not read_rgb_as_given(network)
    assert torch.equal(network.model[0].conv.weight, before)
    assert not read_rgb_as_given(torch.nn.Linear(3, 3)) and not read_rgb_as_given(object())


@pytest.mark.parametrize("reads_rgb", [True, False])
def test_detector_answers_alike_either_way(yolov8n: Path, reads_rgb: bool) -> None:
    """The detector gives one answer, for a batch, whether the network reads RGB or each image is swapped."""
    from ultralytics import YOLO

    handle = _loaded(yolov8n)
    if not reads_rgb:
        handle = YoloHandle(YOLO(str(yolov8n)), handle.names, handle.task, "cpu", reads_rgb=False)
    options = YoloOptions(conf=0.9, max_det=300, imgsz=128)
    images = [_image(3), _image(4)]
    found = batch_detector(handle, options)(images)
    baseline = batch_detector(_loaded(yolov8n), options)(images)
    for mine, expected in zip(found, baseline, strict=True):
        assert_same_detections(mine, expected)

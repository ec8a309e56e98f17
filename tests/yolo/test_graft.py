"""Head-graft surgery and checkpoint safety, without HTTP: base outputs stay bit-identical, bundles rebuild
exactly, and checkpoints or yamls that would run code are refused before anything runs."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from tator.errors import YoloBundleInvalid, YoloBundleUnsafe, YoloGraftDetectOnly
from tator.yolo import graft_checkpoint, graft_model
from tator.yolo.graft_bundle import rebuild_checkpoint
from tator.yolo.graft_job import base_outputs_identical, raw_outputs
from tator.yolo.graft_plan import plan_classes
from tator.zoo.tiny_yolo import build_tiny_yolo

BASE = ["red_square", "green_circle", "blue_triangle"]


@pytest.fixture
def base_pt(tmp_path: Path, model_config_dir: Path) -> Path:
    assert model_config_dir.is_dir()
    checkpoint, _ = build_tiny_yolo(tmp_path / "base", BASE, seed=3)
    return checkpoint


def load(path: Path) -> Any:
    ckpt = graft_checkpoint.load_restricted(path, YoloBundleUnsafe)
    return graft_checkpoint.detection_model(ckpt, YoloBundleInvalid).float().eval()


def randomise_new_convs(model: Any, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for conv in graft_model.class_convs(model):
            conv.new.weight.copy_(torch.randn(conv.new.weight.shape, generator=generator))
            conv.new.bias.copy_(torch.randn(conv.new.bias.shape, generator=generator))


def test_graft_keeps_base_outputs_bit_identical_through_save_and_rebuild(base_pt: Path, tmp_path: Path) -> None:
    base = load(base_pt)
    grafted = graft_model.expand_head(copy.deepcopy(base), [*BASE, "yellow_diamond", "magenta_hexagon"])
    randomise_new_convs(grafted, seed=1)  # stands in for training: the new rows are anything at all
    best = tmp_path / "graft" / "best.pt"
    graft_checkpoint.save_checkpoint(grafted, best, train_args={"imgsz": 64}, dtype=torch.float16)
    merged = load(best)
    for size in (64, 96):
        (base_box, base_cls), (box, cls) = raw_outputs(base, size)[0], raw_outputs(merged, size)[0]
        assert cls.shape[1] == 5 and torch.equal(box, base_box) and torch.equal(cls[:, :3], base_cls)
        assert not torch.equal(cls[:, 3:], torch.zeros_like(cls[:, 3:]))  # the new classes do score
    # An imported bundle is rebuilt from plain data (yaml + tensors): the same outputs, bit for bit.
    rebuilt, args, dtype = rebuild_checkpoint(best, [*BASE, "yellow_diamond", "magenta_hexagon"])
    assert dtype == torch.float16 and args == {"task": "detect", "imgsz": 64}
    assert all(torch.equal(a, b) for pair in zip(raw_outputs(merged, 64), raw_outputs(rebuilt, 64), strict=True)
               for a, b in zip(*pair, strict=True))  # fmt: skip


def test_graft_of_a_graft_and_freeze_list(base_pt: Path, tmp_path: Path) -> None:
    base = load(base_pt)
    first = graft_model.expand_head(copy.deepcopy(base), [*BASE, "a"])
    randomise_new_convs(first, seed=2)
    second = graft_model.expand_head(copy.deepcopy(first), [*BASE, "a", "b", "c"])
    assert second.yaml[graft_model.GRAFT_KEY] == {"built_nc": 3, "added": [1, 2]}
    assert base_outputs_identical(base, second, 3, 64) and base_outputs_identical(first, second, 4, 64)
    frozen = graft_model.new_class_freeze(second)
    assert frozen[:22] == list(range(22)) and "22.cv2" in frozen and "22.cv3.0.2.base" in frozen
    assert not any(str(entry).endswith(".new") for entry in frozen)
    path = tmp_path / "second.pt"
    graft_checkpoint.save_checkpoint(second, path, train_args={}, dtype=torch.float32)
    rebuilt, _, _ = rebuild_checkpoint(path, [*BASE, "a", "b", "c"])
    assert base_outputs_identical(second, rebuilt, 6, 64)


def test_copy_new_convs_touches_nothing_else(base_pt: Path) -> None:
    start = graft_model.expand_head(load(base_pt), [*BASE, "x"])
    trained = copy.deepcopy(start)
    with torch.no_grad():  # what a trainer's EMA does to frozen tensors: tiny drifts everywhere
        for param in trained.parameters():
            param.mul_(1.001)
    merged = copy.deepcopy(start)
    graft_model.copy_new_convs(merged, trained)
    changed = [k for k, v in merged.state_dict().items() if not torch.equal(v, start.state_dict()[k])]
    assert changed and all(".new." in name for name in changed)


def test_allowlist_covers_the_detection_families(tmp_path: Path, model_config_dir: Path) -> None:
    import ultralytics

    assert model_config_dir.is_dir()
    for yaml in ("yolov8n.yaml", "yolo11n.yaml", "yolo26n.yaml"):
        path = tmp_path / yaml.replace(".yaml", ".pt")
        model: Any = ultralytics.YOLO(yaml, task="detect").model  # type: ignore[attr-defined]
        graft_checkpoint.save_checkpoint(model, path, train_args={}, dtype=torch.float16)
        graft_checkpoint.check_checkpoint(path, YoloBundleUnsafe)
        graft_model.check_model_yaml(model.yaml, YoloBundleUnsafe)


class _WritesAFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({str(self.target)!r}, 'w').write('pwned')",))


def test_a_pickle_that_would_run_code_is_refused_unrun(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"model": _WritesAFile(marker)}, evil)
    with pytest.raises(YoloBundleUnsafe) as refused:
        graft_checkpoint.load_restricted(evil, YoloBundleUnsafe)
    assert "builtins.exec" in str(refused.value.details["refused"]) and not marker.exists()
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    torch.save({"model": torch.nn.Conv2d(1, 1, 1)}, tmp_path / "p4.pt", pickle_protocol=4)  # STACK_GLOBAL
    for name in ("junk.pt", "p4.pt"):
        with pytest.raises(YoloBundleUnsafe, match="not a readable torch checkpoint"):
            graft_checkpoint.load_restricted(tmp_path / name, YoloBundleUnsafe)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"activation": "__import__('os').system('touch /tmp/x')"}, "activation"),
        ({"activation": "nn.SiLU(__import__('os'))"}, "activation"),
        ({"backbone": [[-1, 1, "check_requirements", ["x"]]]}, "check_requirements"),
        ({"backbone": [[-1, 10_000, "C2f", [64]]]}, "out of bounds"),
        ({"width_multiple": 1e6}, "out of bounds"),
    ],
)
def test_model_yaml_checker_refuses_code_and_giants(base_pt: Path, change: dict[str, Any], fragment: str) -> None:
    yaml = {**load(base_pt).yaml, **change}
    with pytest.raises(YoloBundleUnsafe, match=fragment):
        graft_model.check_model_yaml(yaml, YoloBundleUnsafe)


def test_checkpoint_with_allowed_classes_but_a_hostile_yaml_is_refused(base_pt: Path, tmp_path: Path) -> None:
    model = load(base_pt)
    model.yaml = {**model.yaml, "activation": "__import__('os').system('echo hi')"}
    path = tmp_path / "hostile.pt"
    graft_checkpoint.save_checkpoint(model, path, train_args={}, dtype=torch.float32)
    with pytest.raises(YoloBundleUnsafe, match="activation"):
        rebuild_checkpoint(path, BASE)
    with pytest.raises(YoloBundleInvalid, match="do not match"):
        rebuild_checkpoint(base_pt, [*BASE, "extra"])  # labelmap longer than the head


def test_detect_only(base_pt: Path) -> None:
    import ultralytics

    segment = ultralytics.YOLO("yolov8n-seg.yaml", task="segment").model  # type: ignore[attr-defined]
    with pytest.raises(YoloGraftDetectOnly):
        graft_model.expand_head(segment, ["a"] * 100)
    assert graft_model.detect_head(load(base_pt)) is not None


def test_plan_classes_drops_overlap_by_normalised_name() -> None:
    plan = plan_classes(BASE, ("Green Circle", "yellow_diamond", "YELLOW-DIAMOND", "cyan_cross"))
    assert plan.overlap == ["greencircle"]
    assert plan.new_classes == ["yellow_diamond", "cyan_cross"]
    assert plan.class_map == [1, 3, 3, 4]
    assert plan_classes(BASE, ("red square",)).new_classes == []

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tator.offline import OFFLINE_SWITCHES
from tator.runtime.loaders import LoadedModel, ModelSpec
from tator.zoo.synthetic import DEFAULT_CLASSES, SyntheticDataset
from tator.zoo.tiny import MANIFEST_NAME, TINY_FAMILIES

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("torch", "ultralytics", "transformers", "rfdetr")


@pytest.fixture(scope="module")
def image(synthetic_dataset: SyntheticDataset) -> Image.Image:
    return Image.open(synthetic_dataset.images[0].path).convert("RGB")


def _loaded(loaded: LoadedModel, handle_type: type) -> Any:
    assert isinstance(loaded.value, handle_type)
    assert loaded.device == "cpu"
    assert loaded.nbytes > 0
    return loaded.value


def test_zoo_has_every_family_in_real_formats(tiny_zoo: dict[str, Path]) -> None:
    assert set(tiny_zoo) == set(TINY_FAMILIES)
    assert tiny_zoo["yolo"].suffix == ".pt" and tiny_zoo["yolo_yaml"].suffix == ".yaml"
    assert tiny_zoo["rfdetr"].suffix == ".pth" and tiny_zoo["rfdetr"].is_file()
    for family in ("sam3", "sam3_tracker", "clip", "dinov3", "qwen3_vl", "qwen2_5_vl"):
        assert (tiny_zoo[family] / "config.json").is_file(), family
        assert (tiny_zoo[family] / "model.safetensors").is_file(), family
    manifest = json.loads((tiny_zoo["yolo"].parents[1] / MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["classes"] == list(DEFAULT_CLASSES)


def test_yolo_checkpoint_loads_and_predicts(tiny_zoo: dict[str, Path], image: Image.Image) -> None:
    from tator.yolo.loader import YoloHandle, load

    handle = _loaded(load(ModelSpec("yolo", str(tiny_zoo["yolo"])), "cpu"), YoloHandle)
    assert handle.names == dict(enumerate(DEFAULT_CLASSES))
    assert handle.task == "detect"
    pixels = np.asarray(image)  # the loaded network reads RGB arrays as they are (YoloHandle.reads_rgb)
    assert handle.reads_rgb
    result = handle.model.predict(pixels, imgsz=128, conf=0.0, device="cpu", verbose=False)[0]
    assert result.boxes.xyxy.shape[1] == 4
    assert result.orig_shape == (128, 128)


def test_yolo_yaml_loads_random_model(tiny_zoo: dict[str, Path]) -> None:
    from tator.yolo.loader import YoloHandle, load

    handle = _loaded(load(ModelSpec("yolo", str(tiny_zoo["yolo_yaml"])), "cpu"), YoloHandle)
    assert len(handle.names) == len(DEFAULT_CLASSES)


def test_rfdetr_checkpoint_restores_class_names_and_predicts(tiny_zoo: dict[str, Path], image: Image.Image) -> None:
    from tator.rfdetr.loader import RfdetrHandle, load

    handle = _loaded(load(ModelSpec("rfdetr", str(tiny_zoo["rfdetr"])), "cpu"), RfdetrHandle)
    assert handle.class_names == DEFAULT_CLASSES
    assert handle.resolution == 128
    detections = handle.model.predict(image, threshold=0.0)
    assert len(detections) > 0
    assert detections.xyxy.shape[1] == 4
    # An untrained head may also pick the extra "no object" slot, id == number of classes.
    assert set(detections.class_id.tolist()) <= set(range(len(DEFAULT_CLASSES) + 1))


def test_sam3_text_prompt_segments(tiny_zoo: dict[str, Path], image: Image.Image) -> None:
    import torch

    from tator.sam3.loader import Sam3Handle, load_sam3

    handle = _loaded(load_sam3(ModelSpec("sam3", str(tiny_zoo["sam3"])), "cpu"), Sam3Handle)
    inputs = handle.processor(images=image, text="red square", return_tensors="pt")
    with torch.inference_mode():
        outputs = handle.model(**{k: v for k, v in inputs.items() if k != "original_sizes"})
    results = handle.processor.post_process_instance_segmentation(
        outputs, threshold=0.0, mask_threshold=0.5, target_sizes=inputs["original_sizes"].tolist()
    )
    assert len(results) == 1
    masks, boxes, scores = results[0]["masks"], results[0]["boxes"], results[0]["scores"]
    assert masks.shape[1:] == (128, 128)
    assert boxes.shape == (masks.shape[0], 4) and scores.shape == (masks.shape[0],)


def test_sam3_tracker_point_prompt(tiny_zoo: dict[str, Path], image: Image.Image) -> None:
    import torch

    from tator.sam3.loader import Sam3TrackerHandle, load_sam3_tracker

    spec = ModelSpec("sam3_tracker", str(tiny_zoo["sam3_tracker"]))
    handle = _loaded(load_sam3_tracker(spec, "cpu"), Sam3TrackerHandle)
    inputs = handle.processor(images=image, input_points=[[[[40, 50]]]], input_labels=[[[1]]], return_tensors="pt")
    with torch.inference_mode():
        outputs = handle.model(**{k: v for k, v in inputs.items() if k != "original_sizes"}, multimask_output=False)
    masks = handle.processor.post_process_masks(outputs.pred_masks, inputs["original_sizes"])
    assert masks[0].shape == (1, 1, 128, 128)
    assert outputs.iou_scores.shape == (1, 1, 1)


def test_clip_embeds_images_and_texts(tiny_zoo: dict[str, Path], image: Image.Image) -> None:
    import torch

    from tator.clip.loader import ClipHandle, load_clip

    handle = _loaded(load_clip(ModelSpec("clip", str(tiny_zoo["clip"])), "cpu"), ClipHandle)
    inputs = handle.processor(images=[image], text=["red square", "a blue triangle"], return_tensors="pt", padding=True)
    with torch.inference_mode():
        image_out = handle.model.get_image_features(pixel_values=inputs["pixel_values"])
        text_out = handle.model.get_text_features(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
        )
    image_embeds, text_embeds = image_out.pooler_output, text_out.pooler_output
    assert image_embeds.shape == (1, 32) and text_embeds.shape == (2, 32)
    assert not torch.allclose(text_embeds[0], text_embeds[1])
    assert torch.isfinite(image_embeds).all() and torch.isfinite(text_embeds).all()


def test_dinov3_embeds_image(tiny_zoo: dict[str, Path], image: Image.Image) -> None:
    import torch

    from tator.clip.loader import Dinov3Handle, load_dinov3

    handle = _loaded(load_dinov3(ModelSpec("dinov3", str(tiny_zoo["dinov3"])), "cpu"), Dinov3Handle)
    assert type(handle.model).__name__ == "DINOv3ViTModel"
    with torch.inference_mode():
        outputs = handle.model(**handle.processor(images=image, return_tensors="pt"))
    assert outputs.pooler_output.shape == (1, 32)
    assert outputs.last_hidden_state.shape == (1, 1 + 4 + 16, 32)  # CLS + 4 registers + 4x4 patches


@pytest.mark.parametrize(
    ("family", "model_class"),
    [("qwen3_vl", "Qwen3VLForConditionalGeneration"), ("qwen2_5_vl", "Qwen2_5_VLForConditionalGeneration")],
)
def test_qwen_generates_from_image_and_text(
    tiny_zoo: dict[str, Path], image: Image.Image, family: str, model_class: str
) -> None:
    import torch

    from tator.qwen.loader import QwenHandle, load

    handle = _loaded(load(ModelSpec("qwen", str(tiny_zoo[family])), "cpu"), QwenHandle)
    assert type(handle.model).__name__ == model_class
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Find the red square."}]}]
    prompt = handle.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n")
    inputs = handle.processor(text=[prompt], images=[image], return_tensors="pt")
    image_pad = handle.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"] == image_pad).sum()) > 1  # the single pad was expanded per merged patch
    with torch.inference_mode():
        output = handle.model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    assert new_tokens.shape == (1, 4)
    assert isinstance(handle.processor.batch_decode(new_tokens, skip_special_tokens=True)[0], str)


def _mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in sorted(root.rglob("*"))}


def test_ensure_is_idempotent(tiny_zoo: dict[str, Path], tiny_zoo_dir: Path) -> None:
    from tator.zoo.tiny import ensure_tiny_zoo

    before = _mtimes(tiny_zoo_dir)
    assert ensure_tiny_zoo(tiny_zoo_dir) == tiny_zoo
    assert _mtimes(tiny_zoo_dir) == before


def test_concurrent_ensure_builds_once_and_deterministically(
    tiny_zoo: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tator.zoo.tiny import ensure_tiny_zoo

    dest = tmp_path / "zoo"
    results: list[dict[str, Path]] = []
    errors: list[BaseException] = []

    def build() -> None:
        try:
            results.append(ensure_tiny_zoo(dest))
        except BaseException as exc:  # surfaced by the assert below
            errors.append(exc)

    caplog.set_level("INFO", logger="tator.zoo.tiny")
    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(results) == 2 and results[0] == results[1]
    assert sum("zoo.built" in record.getMessage() for record in caplog.records) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["zoo", "zoo.lock"]  # no staging dir left behind
    for family in ("sam3", "clip", "qwen3_vl"):  # same seed, same weights
        fresh = (results[0][family] / "model.safetensors").read_bytes()
        assert fresh == (tiny_zoo[family] / "model.safetensors").read_bytes(), family


def test_stale_manifest_is_rebuilt_and_foreign_dir_refused(tiny_zoo: dict[str, Path], tmp_path: Path) -> None:
    from tator.zoo.tiny import build_tiny_zoo, ensure_tiny_zoo, read_manifest

    dest = tmp_path / "zoo"
    build_tiny_zoo(dest)
    assert read_manifest(dest) is not None and read_manifest(dest, seed=1) is None
    manifest_path = dest / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps(manifest | {"format_version": -1}), encoding="utf-8")
    assert read_manifest(dest) is None
    paths = ensure_tiny_zoo(dest)
    assert json.loads(manifest_path.read_text(encoding="utf-8"))["format_version"] == manifest["format_version"]
    assert set(paths) == set(tiny_zoo)

    foreign = tmp_path / "not-a-zoo"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError):
        ensure_tiny_zoo(foreign)
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_SWITCHES and k != "YOLO_CONFIG_DIR"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def test_build_and_load_make_no_network_attempts(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "tests.zoo.offline_probe", str(tmp_path / "zoo"), str(report)]
    done = subprocess.run(command, cwd=REPO_ROOT, env=_clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["attempts"] == []
    assert len(result["loaded"]) == 9


def test_loader_modules_import_no_heavy_library() -> None:
    modules = ["tator.yolo.loader", "tator.rfdetr.loader", "tator.sam3.loader", "tator.clip.loader"]
    modules += ["tator.qwen.loader", "tator.zoo.tiny", "tator.runtime.catalog", "tator.zoo.synthetic"]
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint(sorted(set({HEAVY_MODULES!r}) & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=_clean_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def test_tiny_base_models_stand_in_for_every_hub_family(tiny_zoo: dict[str, Path], tiny_zoo_dir: Path) -> None:
    from tator.runtime.catalog import HUB_BASE_MODELS
    from tator.zoo.tiny import tiny_base_models

    tiny = tiny_base_models(tiny_zoo_dir)
    assert set(tiny) == set(HUB_BASE_MODELS)
    assert tiny["qwen"] == str(tiny_zoo["qwen3_vl"])
    assert tiny["yolo"] == str(tiny_zoo["yolo"]) and tiny["rfdetr"] == str(tiny_zoo["rfdetr"])
    assert all(Path(source).exists() for source in tiny.values())


def test_production_code_never_imports_the_test_model_package() -> None:
    """Only the composition root may reach `tator.zoo` (for TATOR_MODEL_ZOO=tiny), and only lazily."""
    offenders = []
    for path in sorted((REPO_ROOT / "tator").rglob("*.py")):
        if "zoo" in path.relative_to(REPO_ROOT / "tator").parts or path.name == "state.py":
            continue
        if re.search(r"^\s*(from|import) tator\.zoo\b", path.read_text(encoding="utf-8"), re.MULTILINE):
            offenders.append(str(path.relative_to(REPO_ROOT)))
    assert offenders == []


def test_clip_names_resolve_to_hub_ids() -> None:
    from tator.runtime.catalog import resolve_clip_name

    assert resolve_clip_name("ViT-B/32") == "openai/clip-vit-base-patch32"
    assert resolve_clip_name("ViT-L/14") == "openai/clip-vit-large-patch14"
    assert resolve_clip_name("/models/my-clip") == "/models/my-clip"

"""SAM / SAM3 costs on this machine: embedding reuse, text-prompt latency and fine-tuning recall.

    python tools/bench/sam.py [--repeats 3] [--full] [--train-epochs 8] [--no-train]

1. Embedding reuse: on a 3000x2000 image, the first click (image encoder + mask decoder) against the
   second click on the same image (mask decoder on the cached embedding), through `tator.sam3.interactive
   .segment` and the real registry, for the tiny SAM3 tracker and tiny classic SAM (and, with `--full`, a
   full-size SAM3 tracker architecture with random weights). Baseline: the first click of the same run.
2. Text-prompt latency (`tator.sam3.concept.detect_image`): cold (features computed) and warm (cached), for
   the tiny SAM3 and, with `--full`, a full-size `Sam3Model` from its default config with random weights
   (the speed of a forward pass does not depend on the weight values).
3. Fine-tuning: recall at IoU 0.5 on held-out synthetic images before and after `tator.sam3.train.run`
   (tiny SAM3, synthetic shapes dataset). Best of `--repeats` for timings; the machine may be shared.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tator.offline import configure_model_libraries  # noqa: E402


def _best(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def _image(seed: int) -> Any:
    from tator.runtime.images import DecodedImage, image_token

    rng = np.random.default_rng(seed)
    pixels = np.full((2000, 3000, 3), 30, dtype=np.uint8)
    pixels[600:1200, 1000:1600] = rng.integers(0, 255, size=3, dtype=np.uint8)
    return DecodedImage(image_token(pixels), pixels)


def _full_tracker_dir(scratch: Path) -> Path:
    import transformers

    dest = scratch / "full_tracker"
    transformers.Sam3TrackerModel(transformers.Sam3TrackerConfig()).eval().save_pretrained(dest)
    transformers.Sam3TrackerProcessor(image_processor=transformers.Sam3ImageProcessor()).save_pretrained(dest)
    return dest


def _full_sam3_dir(scratch: Path, tiny: Path) -> Path:
    import transformers

    dest = scratch / "full_sam3"
    transformers.Sam3Model(transformers.Sam3Config()).eval().save_pretrained(dest)
    tokenizer = transformers.Sam3Processor.from_pretrained(tiny).tokenizer  # ids fit the full vocabulary
    processor = transformers.Sam3Processor(image_processor=transformers.Sam3ImageProcessor(), tokenizer=tokenizer)
    processor.save_pretrained(dest)
    return dest


def reuse(models: dict[str, tuple[str, str]], repeats: int) -> None:
    from tator.runtime.loaders import ModelSpec
    from tator.runtime.registry import ModelRegistry
    from tator.sam3 import loader
    from tator.sam3.embeddings import EmbeddingCache
    from tator.sam3.interactive import SamRuntime, segment
    from tator.sam3.prompts import point_prompt

    loaders = {"sam1": loader.load_sam1, "sam3_tracker": loader.load_sam3_tracker}
    registry = ModelRegistry(loaders, device=lambda: "cpu")
    fresh = (_image(seed) for seed in itertools.count(1))  # a new image (so no cached embedding) per call
    print("| model | first click (embed + decode) | second click (cached) | ratio |")
    print("|---|---|---|---|")
    for name, (family, source) in models.items():
        spec = ModelSpec(family, source)
        registry.get(spec)

        def first(spec: ModelSpec = spec) -> None:
            runtime = SamRuntime(EmbeddingCache(max_entries=2, max_bytes=2**34))
            segment(runtime, registry, spec, next(fresh), lambda w, h: point_prompt(1300, 900, w, h))

        runtime = SamRuntime(EmbeddingCache(max_entries=2, max_bytes=2**34))
        image = _image(0)
        segment(runtime, registry, spec, image, lambda w, h: point_prompt(1300, 900, w, h))

        def second(spec: ModelSpec = spec, runtime: SamRuntime = runtime, image: Any = image) -> None:
            segment(runtime, registry, spec, image, lambda w, h: point_prompt(1100, 700, w, h))

        cold, warm = _best(first, repeats), _best(second, repeats)
        print(f"| {name} | {cold * 1000:.0f} ms | {warm * 1000:.0f} ms | {warm / cold:.2f}x |")
        registry.unload_all()


def text_latency(models: dict[str, str], repeats: int) -> None:
    from tator.runtime.loaders import ModelSpec
    from tator.runtime.registry import ModelRegistry
    from tator.sam3 import loader
    from tator.sam3.concept import ConceptQuery, detect_image
    from tator.sam3.embeddings import EmbeddingCache
    from tator.sam3.interactive import SamRuntime

    registry = ModelRegistry({"sam3": loader.load_sam3}, device=lambda: "cpu")
    fresh = (_image(seed) for seed in itertools.count(1))
    query = ConceptQuery(text="red square", threshold=0.0, max_results=5)
    print("| model | cold (features + prompt) | warm (cached features) |")
    print("|---|---|---|")
    for name, source in models.items():
        spec = ModelSpec("sam3", source)
        registry.get(spec)

        def cold(spec: ModelSpec = spec) -> None:
            runtime = SamRuntime(EmbeddingCache(max_entries=2, max_bytes=2**34))
            detect_image(runtime, registry, spec, next(fresh), query)

        runtime = SamRuntime(EmbeddingCache(max_entries=2, max_bytes=2**34))
        image = _image(0)
        detect_image(runtime, registry, spec, image, query)
        warm = _best(partial(detect_image, runtime, registry, spec, image, query), repeats)
        print(f"| {name} | {_best(cold, repeats) * 1000:.0f} ms | {warm * 1000:.0f} ms |")
        registry.unload_all()


def fine_tune(tiny: Path, scratch: Path, epochs: int) -> None:
    from tator.datasets.formats.coco import write_coco
    from tator.datasets.formats.yolo import detect_layout, read_yolo
    from tator.jobs.context import CancelToken, JobContext
    from tator.sam3.train import Sam3TrainPlan, run
    from tator.zoo.synthetic import make_detection_dataset

    ds = make_detection_dataset(scratch / "shapes", n_train=24, n_val=8, image_size=128)
    layout = detect_layout(ds.root)
    assert layout is not None
    files = write_coco(read_yolo(ds.root, layout), scratch / "coco")

    class Reporter:
        def progress(self, job_id: str, fraction: float | None, message: str | None, phase: str | None) -> None:
            del job_id, fraction, message, phase

        def log(self, job_id: str, message: str) -> None:
            print(f"    {message}")

        def metric(self, job_id: str, name: str, step: float, value: float) -> None:
            del job_id, name, step, value

    plan = Sam3TrainPlan(
        run_id="bench", label="bench", dataset_id="shapes", base_source=str(tiny), classes=list(ds.labelmap),
        coco_train_json=str(files["train"]), coco_val_json=str(files["val"]), max_epochs=epochs, batch_size=4,
        learning_rate=1e-3, val_score_thresh=0.2, val_max_dets=10,
    )  # fmt: skip
    ctx = JobContext("bench", scratch / "run", "cpu", CancelToken(), Reporter())
    ctx.run_dir.mkdir()
    started = time.perf_counter()
    result = run(plan, ctx)
    losses = ", ".join(f"{v:.2f}" for v in result["train_loss"])
    print(f"  train loss per epoch: {losses}")
    before, after = result["val_recall_iou50_before"], result["val_recall_iou50_after"]
    print(f"  val recall@0.5 before {before:.3f} after {after:.3f} ({time.perf_counter() - started:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--full", action="store_true", help="also time full-size random-weight architectures")
    parser.add_argument("--train-epochs", type=int, default=8)
    parser.add_argument("--no-train", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="only the fine-tuning part")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        configure_model_libraries(scratch / "config", offline=True)
        from tator.zoo.tiny import ensure_tiny_zoo

        zoo = ensure_tiny_zoo(scratch / "zoo")
        interactive = {"tiny SAM3 tracker": ("sam3_tracker", str(zoo["sam3_tracker"])),
                       "tiny classic SAM": ("sam1", str(zoo["sam1"]))}  # fmt: skip
        concept = {"tiny SAM3": str(zoo["sam3"])}
        if args.full:
            interactive["full-size SAM3 tracker (random)"] = ("sam3_tracker", str(_full_tracker_dir(scratch)))
            concept["full-size SAM3 (random)"] = str(_full_sam3_dir(scratch, zoo["sam3"]))
        if not args.train_only:
            print("Embedding reuse, 3000x2000 image, point prompts")
            reuse(interactive, args.repeats)
            print("\nText prompt, 3000x2000 image")
            text_latency(concept, args.repeats)
        if not args.no_train:
            print(f"\nFine-tuning tiny SAM3 on synthetic shapes (24 train / 8 val, {args.train_epochs} epochs)")
            fine_tune(zoo["sam3"], scratch, args.train_epochs)


if __name__ == "__main__":
    main()

"""Prepass throughput with the tiny models, and the pipeline's time over the sum of its model calls.

    python tools/bench/prepass.py [--images 8] [--size 256] [--device cpu] [--zoo DIR] [--conf 0.25]

Every source runs: YOLO and RF-DETR (full + windowed), SAM3 text on the full image and a 2x2 grid, SAM3
similarity from exemplars, and a classifier head over every candidate's crop. The baseline, measured in the
same run, is the time spent inside the model calls themselves (each step times its calls); the rest is the
pipeline's own work (tiling, label mapping, candidate records, dedupe, cropping). Target: pipeline <= 1.3x
the model calls. Without --zoo the tiny zoo is built in a temp dir (about a minute).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tator.offline import configure_model_libraries  # noqa: E402


def _head(encoder: Path, dest: Path, classes: tuple[str, ...]) -> Path:
    from tator.clip.head import build_head, save_head

    rng = np.random.default_rng(0)
    names = (*classes, "__bg_0")
    weight = rng.normal(size=(len(names), 32)).astype(np.float32)
    meta = {"encoder_type": "clip", "encoder_model": str(encoder)}
    save_head(build_head(names, [(weight, np.zeros(len(names), np.float32))], activation="none", meta=meta), dest)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--zoo", type=Path, default=None)
    parser.add_argument("--conf", type=float, default=0.25)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tator-bench-prepass-"))
    configure_model_libraries(work / "config", offline=True)
    import torch

    if args.device == "cpu":
        torch.set_num_threads(2)
    from tator.prepass.config import PrepassConfig
    from tator.prepass.models import ClassifierRef, LocalModels, PrepassModels, SpecRef
    from tator.prepass.pipeline import run_prepass
    from tator.zoo.synthetic import make_detection_dataset
    from tator.zoo.tiny import ensure_tiny_zoo

    zoo = ensure_tiny_zoo(args.zoo or work / "zoo")
    ds = make_detection_dataset(work / "ds", n_train=args.images + 1, n_val=0, image_size=args.size, seed=1)
    head = _head(Path(zoo["clip"]), work / "head.npz", ds.labelmap)
    refs = PrepassModels(
        yolo=SpecRef(family="yolo", source=str(zoo["yolo"])),
        rfdetr=SpecRef(family="rfdetr", source=str(zoo["rfdetr"])),
        sam3=SpecRef(family="sam3", source=str(zoo["sam3"])),
        classifier=ClassifierRef(head_path=str(head), backbone=SpecRef(family="clip", source=str(zoo["clip"]))),
    )  # fmt: skip
    config = PrepassConfig(
        detector_conf=args.conf, sahi_window_size=args.size // 2, similarity_min_exemplar_score=0.0,
        sam3_max_results=20,
    )  # fmt: skip
    from PIL import Image

    images = [np.asarray(Image.open(i.path).convert("RGB")) for i in ds.images]
    glossary = {name: [name.split("_")[-1]] for name in ds.labelmap}
    models = LocalModels(args.device)
    run_prepass(models, refs, images[0], list(ds.labelmap), glossary, config)  # warm-up: loads every model
    totals, model_times, counts = [], [], []
    for pixels in images[1:]:
        started = time.perf_counter()
        result = run_prepass(models, refs, pixels, list(ds.labelmap), glossary, config)
        totals.append(time.perf_counter() - started)
        model_times.append(result.trace.model_seconds)
        counts.append(len(result.candidates))
    total, model = sum(totals), sum(model_times)
    print(f"device={args.device} images={len(totals)} size={args.size}px conf={args.conf}")
    print(f"throughput: {len(totals) / total:.3f} images/s (median {statistics.median(totals) * 1000:.0f} ms/image)")
    print(
        f"model calls: {model:.3f} s of {total:.3f} s; pipeline / model calls = {total / model:.3f}x (target <= 1.3x)"
    )
    print(f"candidates per image: median {statistics.median(counts):.0f}, max {max(counts)}")


if __name__ == "__main__":
    main()

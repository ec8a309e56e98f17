"""Windowed (sliced) inference: Tator's predict_windowed against SAHI's get_sliced_prediction.

    python tools/bench/windowed.py [--repeats 5] [--device cpu] [--weights path/to/best.pt]

Same model, same 2048x2048 image, same 640 px slices with 20% overlap, same class-wise NMS merge at
IoU 0.5. A random tiny YOLO at conf 0.001 returns hundreds of boxes per image, which is where SAHI's
Python merge costs. Baselines in the same run: SAHI, and the bare per-window forward passes (one
ultralytics call per window, no merge). Without --weights the tiny zoo's YOLO is built in a temp dir.
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

SIZE, SLICE, OVERLAP, MERGE_IOU, CONF = 2048, 640, 0.2, 0.5, 0.001


def _perturbed_copy(weights: Path, dest: Path) -> Path:
    """The tiny zoo's random YOLO gives many boxes the very same score (its class bias dominates), and
    NMS then keeps an arbitrary one of each tie, so two correct merges disagree. Noise on the weights
    spreads the scores; the model stays a random one that returns hundreds of boxes."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO(str(weights))
    with torch.no_grad():
        for param in model.model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    model.save(str(dest))
    return dest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", type=Path, default=None)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tator-bench-windowed-"))
    configure_model_libraries(scratch / "config", offline=True)

    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction

    from tator.runtime.loaders import ModelSpec
    from tator.vision.detection import predict_windowed
    from tator.vision.windows import slice_plan
    from tator.yolo.infer import YoloOptions, batch_detector, windowed_batch_size
    from tator.yolo.loader import load

    weights = args.weights
    if weights is None:
        from tator.zoo.tiny import ensure_tiny_zoo

        weights = ensure_tiny_zoo(scratch / "zoo")["yolo"]
    if args.weights is None:
        weights = _perturbed_copy(weights, scratch / "perturbed.pt")
    handle = load(ModelSpec("yolo", str(weights)), args.device).value
    image = np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)
    # iou 0.7 inside each window: what SAHI's ultralytics wrapper uses (the ultralytics default)
    options = YoloOptions(conf=CONF, iou=0.7, max_det=300, imgsz=SLICE)
    detect = batch_detector(handle, options)

    last: dict[str, np.ndarray] = {}

    def ours() -> int:
        found = predict_windowed(
            detect,
            image,
            slice_size=SLICE,
            overlap=OVERLAP,
            merge_iou=MERGE_IOU,
            batch_size=windowed_batch_size(handle.device),
        )
        last["ours"] = found.boxes
        return len(found)

    plan = slice_plan(SIZE, SIZE, slice_size=SLICE, overlap=OVERLAP)

    def bare_forwards() -> int:
        return sum(len(detect([np.ascontiguousarray(image[w.y1 : w.y2, w.x1 : w.x2])])[0]) for w in plan)

    sahi_model = AutoDetectionModel.from_pretrained(
        model_type="ultralytics",
        model_path=str(weights),
        confidence_threshold=CONF,
        device=args.device,
        image_size=SLICE,
    )

    def sahi() -> int:
        result = get_sliced_prediction(
            image,
            sahi_model,
            slice_height=SLICE,
            slice_width=SLICE,
            overlap_height_ratio=OVERLAP,
            overlap_width_ratio=OVERLAP,
            perform_standard_pred=False,
            postprocess_type="NMS",
            postprocess_match_metric="IOU",
            postprocess_match_threshold=MERGE_IOU,
            postprocess_class_agnostic=False,
            verbose=0,
        )
        last["sahi"] = np.array([p.bbox.to_xyxy() for p in result.object_prediction_list], np.float32)
        return len(result.object_prediction_list)

    # Interleaved rounds, so drift (thermal, allocator growth) hits every pipeline alike.
    runs: dict[str, list[float]] = {"ours": [], "bare": [], "sahi": []}
    counts: dict[str, int] = {}
    pipelines = {"ours": ours, "bare": bare_forwards, "sahi": sahi}
    for fn in pipelines.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in pipelines.items():
            started = time.perf_counter()
            counts[name] = fn()
            runs[name].append(time.perf_counter() - started)
    ours_s, bare_s, sahi_s = (statistics.median(runs[k]) for k in ("ours", "bare", "sahi"))
    ours_n, bare_n, sahi_n = counts["ours"], counts["bare"], counts["sahi"]
    print(
        f"image {SIZE}x{SIZE}, {len(plan)} windows of {SLICE}px, overlap {OVERLAP}, device {args.device}, "
        f"median of {args.repeats}"
    )
    print("| pipeline | median s | detections |")
    print("|---|---|---|")
    print(f"| Tator predict_windowed (batched windows + torchvision NMS) | {ours_s:.3f} | {ours_n} |")
    print(f"| bare per-window forward passes (no merge) | {bare_s:.3f} | {bare_n} before merge |")
    print(f"| SAHI get_sliced_prediction (NMS merge) | {sahi_s:.3f} | {sahi_n} |")
    from tator.vision.boxes import box_iou

    same = int((box_iou(last["ours"], last["sahi"]).max(axis=1) > 0.9).sum()) if len(last["sahi"]) else 0
    print(f"{same} of Tator's {ours_n} boxes match one of SAHI's {sahi_n} (IoU > 0.9)")
    print(f"ratio vs SAHI: {ours_s / sahi_s:.2f}x; ratio vs bare forwards: {ours_s / bare_s:.2f}x")


if __name__ == "__main__":
    main()

"""YOLO runs, the active model and prediction, over the shared registry and run store."""

from __future__ import annotations

from dataclasses import replace

from tator.errors import YoloActiveMissing, YoloActiveMissingWeights, YoloBestMissing, YoloRunNotFound
from tator.runtime.active_runs import ActiveRuns, RunErrors, RunFamily
from tator.runtime.registry import ModelRegistry
from tator.vision.detection import Pixels, Prediction, PredictMode, WindowedMode, run_mode
from tator.yolo.infer import YoloOptions, batch_detector, windowed_batch_size

YOLO_RUNS = RunFamily(
    family="yolo",
    weights=("best.pt",),
    kept_files=(
        "best.pt",
        "best.onnx",
        "results.csv",
        "args.yaml",
        "data.yaml",
        "metrics.json",
        "metrics_series.json",
        "labelmap.txt",
        "head_graft_audit.jsonl",
        "head_graft.yaml",
        "run.json",
    ),
    errors=RunErrors(YoloRunNotFound, YoloBestMissing, YoloActiveMissing, YoloActiveMissingWeights),
)

VARIANTS: list[dict[str, str]] = [
    *({"id": f"yolov8{s}", "label": f"YOLOv8{s.upper()}", "task": "detect"} for s in "nsmlx"),
    *({"id": f"yolov8{s}-seg", "label": f"YOLOv8{s.upper()}-seg", "task": "segment"} for s in "nsmlx"),
    *({"id": f"yolov8{s}-p2", "label": f"YOLOv8{s.upper()}-P2 (small objects)", "task": "detect"} for s in "nsmlx"),
    *({"id": f"yolo26{s}", "label": f"YOLO26{s.upper()}", "task": "detect"} for s in "nsmlx"),
]


def variants(task: str | None) -> list[dict[str, str]]:
    return [v for v in VARIANTS if task is None or v["task"] == task]


def predict(
    registry: ModelRegistry, runs: ActiveRuns, pixels: Pixels, mode: PredictMode, options: YoloOptions
) -> Prediction:
    """Run the active YOLO model on an image in one predict mode (boxes in full-image pixels)."""
    spec, _meta = runs.active_spec()
    with registry.use(spec) as handle:
        if isinstance(mode, WindowedMode):
            mode = replace(mode, batch_size=windowed_batch_size(handle.device))
        result = run_mode(batch_detector(handle, options), pixels, mode)
        names = [handle.names[i] for i in sorted(handle.names)]
    return Prediction(result.detections, names, result.warnings)

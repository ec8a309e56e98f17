"""RF-DETR runs, the active model and prediction, over the shared registry and run store."""

from __future__ import annotations

from tator.errors import RfdetrActiveMissing, RfdetrActiveMissingWeights, RfdetrBestMissing, RfdetrRunNotFound
from tator.rfdetr.infer import RfdetrCallReport, RfdetrOptions, batch_detector
from tator.rfdetr.loader import VARIANTS as LOADABLE_VARIANTS
from tator.runtime.active_runs import ActiveRuns, RunErrors, RunFamily
from tator.runtime.registry import ModelRegistry
from tator.vision.detection import Pixels, Prediction, PredictMode, run_mode

RFDETR_RUNS = RunFamily(
    family="rfdetr",
    weights=("checkpoint_best_total.pth", "checkpoint_best_ema.pth", "checkpoint_best_regular.pth", "checkpoint.pth"),
    kept_files=(
        "checkpoint_best_total.pth",
        "checkpoint_best_ema.pth",
        "checkpoint_best_regular.pth",
        "results.json",
        "log.txt",
        "labelmap.txt",
        "metrics_series.json",
        "run.json",
    ),
    errors=RunErrors(RfdetrRunNotFound, RfdetrBestMissing, RfdetrActiveMissing, RfdetrActiveMissingWeights),
)


def variants(task: str | None) -> list[dict[str, str]]:
    found = [
        {
            "id": name,
            "label": name.replace("rfdetr-", "RF-DETR ").title(),
            "task": "segment" if "seg" in name else "detect",
        }
        for name in LOADABLE_VARIANTS
    ]
    return [v for v in found if task is None or v["task"] == task]


def predict(
    registry: ModelRegistry, runs: ActiveRuns, pixels: Pixels, mode: PredictMode, options: RfdetrOptions
) -> Prediction:
    """Run the active RF-DETR model on an image in one predict mode (boxes in full-image pixels)."""
    spec, _meta = runs.active_spec()
    report = RfdetrCallReport()
    with registry.use(spec) as handle:
        result = run_mode(batch_detector(handle, options, report), pixels, mode)
        names = list(handle.class_names)
    warnings = [*result.warnings, *(["labelmap_shifted"] if report.shifted else [])]
    return Prediction(result.detections, names, warnings)

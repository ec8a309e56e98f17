"""Calibration against its baselines on a synthetic candidate pool whose truth is known.

    python tools/bench/calibration.py [--images 600] [--seeds 0 1 2] [--models xgb mlp] [--json out.json] [--ablation]

The pool (`tator.calibration.synthetic`): three sources with controlled noise (a detector with tight boxes and
class confusion, a high-recall SAM3-text-like source with many false positives, a similarity source whose scores
track the truth), merged by the prepass dedupe, with a classifier-head probability per candidate. Per seed the
images are split into train / tune / test; everything reported is on the held-out test split at IoU 0.5 with every
false positive and miss counted. Baselines in the same run, with the same split: each source alone and the union
of all sources, each with per-class thresholds tuned on the tune split; and the union with every candidate kept
(its recall is the pool's recall ceiling). Exit status 1 when the calibrated F1 does not beat both baselines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tator.calibration.models import ModelOptions  # noqa: E402
from tator.calibration.pipeline import CalibrationOptions, evaluate_pool  # noqa: E402
from tator.calibration.report import build_report  # noqa: E402
from tator.calibration.synthetic import CLASSES, make_pool  # noqa: E402


def _quiet(fraction: float, message: str) -> None:
    del fraction, message


def one_run(n_images: int, seed: int, kind: str, *, ablation: bool) -> dict[str, Any]:
    """Calibrated, best single source and union figures (test split) for one pool and one model."""
    pool = make_pool(n_images, seed=seed)
    model = ModelOptions(kind=kind, seed=seed, threads=2)  # type: ignore[arg-type]
    options = CalibrationOptions(model=model, seed=seed, ablation=ablation)
    started = time.perf_counter()
    fitted, figures = evaluate_pool(pool, CLASSES, options, _quiet)
    seconds = time.perf_counter() - started
    report = build_report(fitted, figures, CLASSES, options, len(pool))
    sources = report["baselines"]["sources"]
    best = max(sources, key=lambda s: sources[s]["f1"])
    return {
        "seed": seed, "model": kind, "seconds": round(seconds, 1), "calibrated": report["test"]["total"],
        "best_source": {"name": best, **sources[best]}, "union_tuned": report["baselines"]["union_tuned"],
        "union_all": report["baselines"]["union_all"], "recall_ceiling": report["recall_ceiling"],
        "ablation": report["ablation"], "images": report["images"],
    }  # fmt: skip


def _mean(runs: list[dict[str, Any]], key: str, field: str) -> float:
    return statistics.mean(float(r[key][field]) for r in runs)


def table(runs: list[dict[str, Any]]) -> str:
    """Markdown: one row per model and seed, then the means."""
    lines = [
        "| model | seed | calibrated P / R / F1 | best source (tuned) F1 | union (tuned) F1 | union (all) F1 "
        "| ceiling | s |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in runs:
        c = r["calibrated"]
        lines.append(
            f"| {r['model']} | {r['seed']} | {c['precision']:.3f} / {c['recall']:.3f} / **{c['f1']:.3f}** | "
            f"{r['best_source']['name']} {r['best_source']['f1']:.3f} | {r['union_tuned']['f1']:.3f} | "
            f"{r['union_all']['f1']:.3f} | {r['recall_ceiling']:.3f} | {r['seconds']} |"
        )
    for kind in sorted({r["model"] for r in runs}):
        rs = [r for r in runs if r["model"] == kind]
        lines.append(
            f"| {kind} | mean | **{_mean(rs, 'calibrated', 'f1'):.3f}** | {_mean(rs, 'best_source', 'f1'):.3f} | "
            f"{_mean(rs, 'union_tuned', 'f1'):.3f} | {_mean(rs, 'union_all', 'f1'):.3f} | | |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=["xgb", "mlp"], choices=["xgb", "mlp"])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--ablation", action="store_true", help="also retrain without each source (slower)")
    args = parser.parse_args()
    runs = [one_run(args.images, seed, kind, ablation=args.ablation) for kind in args.models for seed in args.seeds]
    sys.stdout.write(table(runs) + "\n")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=2), encoding="utf-8")
    beaten = all(r["calibrated"]["f1"] > max(r["best_source"]["f1"], r["union_tuned"]["f1"]) for r in runs)
    sys.stdout.write(f"calibrated beats the best single source and the union in every run: {beaten}\n")
    return 0 if beaten else 1


if __name__ == "__main__":
    sys.exit(main())

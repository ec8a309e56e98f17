"""The calibration report: JSON (every figure), Markdown (the same, for people) and a precision-recall plot.

All figures are on the held-out test split at the configured IoU. `write_outputs` writes the calibrator folder
and the report files into one directory; `bundle` zips the report for download.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tator.calibration.pipeline import CalibrationOptions, Fitted, Tuned, source_pr_points
from tator.storage.files import atomic_write_bytes, atomic_write_json, atomic_write_text

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PR_PLOT = "pr_curve.png"
TRAINING_PLOT = "training_curve.png"
CALIBRATOR_DIR = "calibrator"
REPORT_FILES = (REPORT_JSON, REPORT_MD, PR_PLOT, TRAINING_PLOT)


def _rounded(counts: Mapping[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in counts.items()}


def build_report(fitted: Fitted, figures: Mapping[str, Any], classes: Sequence[str],
                 options: CalibrationOptions, n_images: int) -> dict[str, Any]:  # fmt: skip
    """Every figure of a calibration as one JSON-ready dict."""
    calibrated: Tuned = figures["calibrated"]
    union_all = figures["union_all"].total
    sources: Mapping[str, Tuned] = figures["sources"]
    best_source = max(sources, key=lambda s: sources[s].test.total.f1) if sources else None
    return {
        "options": options.as_dict(),
        "images": {"total": n_images, **{k: len(v) for k, v in fitted.split.as_dict().items()}},
        "rows": fitted.rows,
        "split": fitted.split.as_dict(),
        "model": {"kind": fitted.calibrator.model.kind, **_model_summary(fitted.calibrator.model.meta)},
        "test": calibrated.test.as_dict(),
        "thresholds": {classes[c]: ch.as_dict() for c, ch in sorted(calibrated.choices.items())},
        "recall_ceiling": round(union_all.recall, 6),
        "coverage_preservation": round(calibrated.test.total.recall / union_all.recall, 6) if union_all.recall else 0.0,
        "baselines": {
            "union_all": _rounded(union_all.as_dict()),
            "union_tuned": _rounded(figures["union_tuned"].summary()),
            "best_single_source": best_source,
            "sources": {s: _rounded(t.summary()) for s, t in sources.items()},
        },
        "ablation": {s: _rounded(v) for s, v in figures["ablation"].items()},
    }


def _model_summary(meta: Mapping[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in ("best_iteration", "best_epoch", "hidden") if k in meta}


def _row(name: str, counts: Mapping[str, Any]) -> str:
    if "error" in counts:
        return f"| {name} | – | – | – | – | – | – |"
    return (f"| {name} | {counts['tp']} | {counts['fp']} | {counts['fn']} | {counts['precision']:.4f} | "
            f"{counts['recall']:.4f} | {counts['f1']:.4f} |")  # fmt: skip


def markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown tables."""
    head = "| | TP | FP | FN | P | R | F1 |\n|---|---:|---:|---:|---:|---:|---:|"
    test, base = report["test"], report["baselines"]
    lines = [
        "# Calibration report", "",
        f"Model `{report['model']['kind']}`; images {report['images']}; evaluated on the held-out test split at IoU "
        f"{test['iou']} (every false positive and every missed box counted).", "",
        "## Calibrated vs baselines (test split)", "", head,
        _row("calibrated", test["total"]),
        _row("union of sources, threshold tuned", base["union_tuned"]),
        _row("union of sources, every candidate", base["union_all"]),
        *(_row(f"{s} alone, threshold tuned", c) for s, c in base["sources"].items()), "",
        f"Recall ceiling of the candidate pool: {report['recall_ceiling']:.4f}; coverage preservation "
        f"(calibrated recall / ceiling): {report['coverage_preservation']:.4f}.", "",
        f"![precision-recall on the test split]({PR_PLOT})", "", f"![calibrator training curve]({TRAINING_PLOT})", "",
        "## Per class (calibrated, test split)", "", head.replace("| |", "| class |", 1),
        *(_row(name, c) for name, c in test["per_class"].items()), "",
    ]  # fmt: skip
    if report["ablation"]:
        lines += ["## Ablation: calibrated without one source (test split)", "", head.replace("| |", "| without |", 1)]
        lines += [_row(s, c) for s, c in report["ablation"].items()] + [""]
    lines += ["## Thresholds (chosen on the tune split)", "", "| class | threshold | tune F1 | floor met | from |",
              "|---|---:|---:|---|---|"]  # fmt: skip
    lines += [f"| {n} | {c['threshold']:.4f} | {c['tune_f1']:.4f} | {c['floor_met']} | {c['source']} |"
              for n, c in report["thresholds"].items()]  # fmt: skip
    return "\n".join(lines) + "\n"


def pr_plot(figures: Mapping[str, Any], report: Mapping[str, Any]) -> bytes:
    """PNG of the calibrated and baseline precision-recall curves (test split), operating point marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.5), dpi=100)
    ax = fig.add_subplot()
    curves = {"calibrated": figures["pr_curve"], **source_pr_points(figures["sources"])}
    curves["union"] = source_pr_points({"union": figures["union_tuned"]})["union"]
    for name, (_, precision, recall) in curves.items():
        ax.plot(recall, precision, label=name, linewidth=2 if name == "calibrated" else 1)
    total = report["test"]["total"]
    ax.scatter(
        [total["recall"]], [total["precision"]], marker="*", s=120, color="black", label="operating point", zorder=3
    )
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title="Precision-recall (test split)")
    ax.legend(loc="lower left", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def training_plot(curve: Mapping[str, list[float]], best: int | None) -> bytes:
    """PNG of the calibrator's loss per boosting round / epoch on train and tune, the kept round marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.add_subplot()
    for name, losses in curve.items():
        if losses:
            ax.plot(range(1, len(losses) + 1), losses, label=name)
    if best is not None:
        ax.axvline(best + 1, color="black", linestyle=":", label="kept (best on tune)")
    ax.set(xlabel="round / epoch", ylabel="log loss", title="Calibrator training (test split never seen)")
    ax.legend(loc="upper right", fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_outputs(folder: Path, fitted: Fitted, figures: Mapping[str, Any], report: dict[str, Any]) -> dict[str, str]:
    """Write the calibrator and the report files into `folder`; returns name -> file name."""
    folder.mkdir(parents=True, exist_ok=True)
    fitted.calibrator.save(folder / CALIBRATOR_DIR)
    atomic_write_json(folder / REPORT_JSON, report)
    atomic_write_text(folder / REPORT_MD, markdown(report))
    atomic_write_bytes(folder / PR_PLOT, pr_plot(figures, report))
    atomic_write_bytes(
        folder / TRAINING_PLOT, training_plot(figures.get("training_curve") or {}, figures.get("best_round"))
    )
    return {"calibrator": CALIBRATOR_DIR, "report_json": REPORT_JSON, "report_md": REPORT_MD, "pr_plot": PR_PLOT,
            "training_plot": TRAINING_PLOT}  # fmt: skip


def bundle(folder: Path) -> bytes:
    """A zip of the report files present in `folder` (JSON, Markdown, PNG) and the calibrator's JSON."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in REPORT_FILES:
            if (folder / name).is_file():
                archive.write(folder / name, name)
        meta = folder / CALIBRATOR_DIR / "calibrator.json"
        if meta.is_file():
            archive.write(meta, f"{CALIBRATOR_DIR}/calibrator.json")
    return buffer.getvalue()

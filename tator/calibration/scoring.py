"""Scoring at inference: a calibrator filters one image's prepass candidates.

`filter_candidates` keeps the candidates whose calibrated score reaches their class's threshold and adds the score
(`ensemble_prob`, `ensemble_threshold`: the reference's names); a candidate whose label the calibrator does not
know cannot be scored and is dropped (counted in `unscored`). Features are built as in training (same spec, no
ground truth).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tator.calibration.calibrator import META_FILE, Calibrator, load_calibrator
from tator.calibration.report import CALIBRATOR_DIR
from tator.calibration.samples import ImageSample, candidate_from_record
from tator.errors import CalibratorInvalid, CalibratorNotFound
from tator.storage.paths import check_id


@dataclass
class Filtered:
    """The kept candidate records (with their calibrated score), and how many were rejected or unscorable."""

    kept: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    unscored: int = 0


def job_calibrator_dir(jobs_root: Path, job_id: str) -> Path:
    """The calibrator folder a calibration job left (`calibration_jobs/<id>/calibrator`); 404 when absent."""
    folder = jobs_root / check_id(job_id, what="calibration_job_id") / CALIBRATOR_DIR
    if not (folder / META_FILE).is_file():
        raise CalibratorNotFound(f"calibration job {job_id!r} left no calibrator", job_id=job_id)
    return folder


def open_calibrator(folder: Path) -> Calibrator:
    """Load a calibrator folder; 404 when missing, 422 when it is not a calibrator this version can use."""
    if not (folder / META_FILE).is_file():
        raise CalibratorNotFound(f"no calibrator in {folder.name!r}")
    try:
        return load_calibrator(folder)
    except (ValueError, KeyError, OSError) as exc:
        raise CalibratorInvalid(f"calibrator {folder.name!r} cannot be used: {exc}") from exc


def filter_candidates(
    calibrator: Calibrator, records: Sequence[Mapping[str, Any]], *, width: int, height: int
) -> Filtered:
    """Score one image's candidate records (pixel xyxy boxes in an image of width x height) and keep those at or
    above their class's threshold, best calibrated score first."""
    classes = calibrator.spec.classes
    pairs = [(dict(r), candidate_from_record(r, classes)) for r in records]
    usable = [(r, c) for r, c in pairs if c is not None]
    out = Filtered(unscored=len(pairs) - len(usable))
    sample = ImageSample("image", width, height, [c for _, c in usable if c is not None])
    (scores,) = calibrator.scores([sample])
    for (record, cand), score in zip(usable, scores, strict=True):
        assert cand is not None
        threshold = calibrator.threshold(cand.class_id)
        if score >= threshold:
            out.kept.append({**record, "ensemble_prob": round(float(score), 6), "ensemble_threshold": threshold})
        else:
            out.rejected += 1
    out.kept.sort(key=lambda r: -float(r["ensemble_prob"]))
    return out

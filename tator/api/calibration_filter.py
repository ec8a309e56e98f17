"""A prepass answer filtered by a calibrator: the api layer joins the two domains (prepass never imports
calibration). The kept detections carry `ensemble_prob` and `ensemble_threshold`; a warning says how many the
calibrator kept and rejected."""

from __future__ import annotations

from tator.calibration.calibrator import Calibrator
from tator.calibration.scoring import filter_candidates, job_calibrator_dir, open_calibrator
from tator.prepass.candidates import PrepassDetection
from tator.prepass.service import PrepassResponse
from tator.storage.layout import Layout


def request_calibrator(layout: Layout, job_id: str | None, calibrator_dir: str | None) -> tuple[Calibrator, str] | None:
    """The calibrator a prepass request names (a calibration job, else a folder under the uploads folder, e.g. an
    imported recipe's `prepass_recipes/<id>/assets/calibrator`), opened before any work; None when it names none."""
    if job_id:
        return open_calibrator(job_calibrator_dir(layout.root("calibration_jobs"), job_id)), job_id
    if calibrator_dir:
        return open_calibrator(layout.guard.relative(calibrator_dir)), calibrator_dir
    return None


def calibrated(
    response: PrepassResponse, chosen: tuple[Calibrator, str] | None, *, width: int, height: int
) -> PrepassResponse:
    """`response` unchanged without a calibrator; else only the detections it accepts."""
    if chosen is None:
        return response
    calibrator, name = chosen
    result = filter_candidates(calibrator, [d.model_dump() for d in response.detections], width=width, height=height)
    detections = [PrepassDetection.model_validate(record) for record in result.kept]
    note = f"calibration:{name}:kept={len(detections)}:rejected={result.rejected}:unscored={result.unscored}"
    return response.model_copy(update={"detections": detections, "warnings": [*response.warnings, note]})

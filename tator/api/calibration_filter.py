"""A prepass answer filtered by a calibrator: the api layer joins the two domains (prepass never imports
calibration). The kept detections carry `ensemble_prob` and `ensemble_threshold`; a warning says how many the
calibrator kept and rejected."""

from __future__ import annotations

from tator.calibration.scoring import filter_candidates, job_calibrator_dir, open_calibrator
from tator.prepass.candidates import PrepassDetection
from tator.prepass.service import PrepassResponse
from tator.storage.layout import Layout


def calibrated(
    response: PrepassResponse, layout: Layout, job_id: str | None, *, width: int, height: int
) -> PrepassResponse:
    """`response` unchanged without a job id; else only the detections the job's calibrator accepts."""
    if not job_id:
        return response
    calibrator = open_calibrator(job_calibrator_dir(layout.root("calibration_jobs"), job_id))
    result = filter_candidates(calibrator, [d.model_dump() for d in response.detections], width=width, height=height)
    detections = [PrepassDetection.model_validate(record) for record in result.kept]
    note = f"calibration:{job_id}:kept={len(detections)}:rejected={result.rejected}:unscored={result.unscored}"
    return response.model_copy(update={"detections": detections, "warnings": [*response.warnings, note]})

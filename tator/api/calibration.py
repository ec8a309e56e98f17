"""Calibration jobs: `/calibration/jobs*` (start, list, read, cancel, report bundle)."""

from typing import Any, Literal

from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from tator.api.deps import JobsDep, LayoutDep
from tator.api.errors import responses
from tator.api.qwen.prepass import ServerModelsDep
from tator.api.routing import IndexedRouter
from tator.calibration import cache, start
from tator.errors import (
    CalibrationImagesMissing,
    CalibrationJobNotFound,
    CalibrationLabelsMissing,
    CalibrationNoSourceEnabled,
    CalibrationPrepassNotFound,
    CalibrationReportMissing,
    ClassifierNotFound,
    ClassifierPathNotAllowed,
    DatasetNotFound,
    InvalidId,
    PrepassSourcesUnavailable,
)
from tator.jobs.types import JobRecord, JobStatus
from tator.prepass.config import PrepassConfig

router = IndexedRouter(prefix="/calibration", tags=["calibration"])
START_ERRORS = (
    DatasetNotFound, InvalidId, CalibrationImagesMissing, CalibrationLabelsMissing, CalibrationNoSourceEnabled,
    ClassifierNotFound, ClassifierPathNotAllowed, CalibrationPrepassNotFound, PrepassSourcesUnavailable,
)  # fmt: skip
# The contract's status words: ours say `succeeded` where it says `completed`.
STATUS_WORDS = {JobStatus.SUCCEEDED: "completed"}


class CalibrationRequest(BaseModel):
    """The reference's other knobs (recipe discovery, lanes, SAM3 windowing, policy layers, ...) are accepted and
    ignored (named in `ignored_fields`): the prepass that produced the cached candidates already fixed them."""

    model_config = ConfigDict(extra="ignore")

    dataset_id: str = Field(description="Registered dataset with labelled boxes (its ground truth is the target).")
    prepass_id: str | None = Field(
        default=None, description="Stored prepass records to use; None: the job runs the dataset prepass (cached)."
    )
    max_images: int = Field(
        default=2000, ge=3, le=100_000, description="Images used (seeded shuffle, then the first N)."
    )
    seed: int = Field(default=42, description="Seed of the image selection, the split and the model.")
    enable_yolo: bool = Field(default=True, description="Use YOLO candidates and scores.")
    enable_rfdetr: bool = Field(default=True, description="Use RF-DETR candidates and scores.")
    enable_sam3_text: bool = Field(default=True, description="Use SAM3 text-prompt candidates and scores.")
    enable_sam3_similarity: bool = Field(default=True, description="Use SAM3 exemplar-similarity candidates.")
    extra_sources: list[str] = Field(default_factory=list, max_length=16, description="Other source names to use.")
    classifier_id: str | None = Field(
        default=None, description="Classifier head (.npz, relative to the classifiers folder) the prepass scored with."
    )
    prepass_config: PrepassConfig | None = Field(
        default=None, description="Knobs of the job's dataset prepass (its enable_* flags come from this request)."
    )
    calibration_model: Literal["xgb", "mlp"] = Field(default="xgb", description="XGBoost trees or a small MLP.")
    label_iou: float = Field(
        default=0.5, gt=0, le=1, description="IoU a candidate needs with a GT box to be a positive."
    )
    eval_iou: float = Field(default=0.5, gt=0, le=1, description="IoU of a true positive in threshold choice and eval.")
    recall_floor: float = Field(default=0.6, ge=0, le=1, description="Least recall a per-class threshold must keep.")
    per_class_thresholds: bool = Field(default=True, description="One threshold per class (else one global).")
    tune_fraction: float = Field(default=0.2, gt=0, lt=0.5, description="Share of images in the tune split.")
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5, description="Share of images in the held-out test split.")
    ablation: bool = Field(default=True, description="Also retrain without each source (its contribution).")
    xgb_rounds: int = Field(default=400, ge=1, le=5000, description="Most boosting rounds (early-stopped on tune).")
    xgb_depth: int = Field(default=6, ge=1, le=16, description="Tree depth.")
    model_hidden: str = Field(default="128,64", pattern=r"^\d{1,4}(,\d{1,4}){0,3}$", description="MLP hidden sizes.")
    epochs: int = Field(default=60, ge=1, le=1000, description="Most MLP epochs (early-stopped on tune).")

    def sources(self) -> list[str]:
        flags = {"yolo": self.enable_yolo, "rfdetr": self.enable_rfdetr, "sam3_text": self.enable_sam3_text,
                 "sam3_similarity": self.enable_sam3_similarity}  # fmt: skip
        return [name for name, on in flags.items() if on] + [s for s in self.extra_sources if s not in flags]

    def options(self) -> dict[str, Any]:
        keep = ("max_images", "seed", "label_iou", "eval_iou", "recall_floor", "per_class_thresholds",
                "tune_fraction", "test_fraction", "ablation", "xgb_rounds", "xgb_depth")  # fmt: skip
        hidden = [int(v) for v in self.model_hidden.split(",")]
        return {**{k: getattr(self, k) for k in keep}, "model": self.calibration_model, "mlp_hidden": hidden,
                "mlp_epochs": self.epochs}  # fmt: skip


class PrepassRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str = Field(min_length=1, max_length=1024, description="Image path relative to the dataset root.")
    detections: list[dict[str, Any]] = Field(
        max_length=5000, description="Candidates: pixel xyxy `box` (or `bbox_xyxy_px`), label, score, score_by_source."
    )
    warnings: list[str] = Field(default_factory=list, max_length=100, description="Prepass warnings of the image.")


class PrepassRecordsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[PrepassRecord] = Field(min_length=1, max_length=1000, description="One record per image.")


def job_view(record: JobRecord) -> dict[str, Any]:
    """The contract's calibration job payload."""
    return {
        "job_id": record.job_id, "status": STATUS_WORDS.get(record.status, record.status.value),
        "message": record.message, "phase": record.phase, "progress": record.progress, "request": record.params,
        "result": record.result, "error": record.error.model_dump() if record.error else None,
        "created_at": record.created_at, "updated_at": record.updated_at,
    }  # fmt: skip


@router.post("/jobs", responses=responses(*START_ERRORS))
def calibration_start(
    body: CalibrationRequest, jobs: JobsDep, layout: LayoutDep, server: ServerModelsDep
) -> dict[str, Any]:
    """Queue a calibration job over a dataset's prepass candidates (stored, or computed by the job, cached)."""
    record = start.start_calibration(
        jobs, layout, dataset_id=body.dataset_id, prepass_id=body.prepass_id, server=server, sources=body.sources(),
        classifier_id=body.classifier_id, prepass_config=body.prepass_config, options=body.options(),
    )  # fmt: skip
    return job_view(record)


@router.post("/prepass/{prepass_id}/records", responses=responses(InvalidId))
def calibration_prepass_records(prepass_id: str, body: PrepassRecordsRequest, layout: LayoutDep) -> dict[str, Any]:
    """Store per-image prepass candidates (computed elsewhere) as a cached prepass that jobs can calibrate on."""
    records = [r.model_dump() for r in body.records]
    return cache.import_records(layout.root("calibration_cache"), prepass_id, records)


@router.get("/jobs")
def calibration_jobs(jobs: JobsDep) -> list[dict[str, Any]]:
    """Calibration jobs, newest first."""
    return [job_view(r) for r in jobs.list(kinds=start.KINDS)]


@router.get("/jobs/{job_id}", responses=responses(CalibrationJobNotFound))
def calibration_job(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """One calibration job: status, phase, progress, request, result (metrics, artifacts) or error."""
    return job_view(start.get_job(jobs, job_id))


@router.post("/jobs/{job_id}/cancel", responses=responses(CalibrationJobNotFound))
def calibration_cancel(job_id: str, jobs: JobsDep) -> dict[str, Any]:
    """Cancel a calibration job; a finished one is returned unchanged."""
    return job_view(start.cancel_job(jobs, job_id))


@router.get(
    "/jobs/{job_id}/artifacts/report_bundle", responses=responses(CalibrationJobNotFound, CalibrationReportMissing)
)
def calibration_report_bundle(job_id: str, jobs: JobsDep) -> Response:
    """The report as a zip: report.json, report.md, pr_curve.png and the calibrator's JSON."""
    data = start.report_bundle(jobs, job_id)
    headers = {"Content-Disposition": f'attachment; filename="{job_id}_report_bundle.zip"'}
    return Response(data, media_type="application/zip", headers=headers)

"""Dataset prepass jobs (ours, beside the contract): `POST|GET /prepass/jobs`, `GET /prepass/jobs/{id}`,
`POST /prepass/jobs/{id}/cancel`. A job runs the prepass over a dataset with a per-image cache (a cancelled
or killed run resumes where it stopped when submitted again) and installs a proposals dataset."""

from typing import Any

from pydantic import ConfigDict, Field

from tator.api.deps import JobsDep, LayoutDep
from tator.api.errors import responses
from tator.api.qwen.prepass import ServerModelsDep
from tator.api.routing import IndexedRouter
from tator.api.training_routes import add_job_routes, job_view
from tator.errors import (
    ClassifierNotFound,
    ClassifierPathNotAllowed,
    DatasetNotFound,
    DatasetNotYoloReady,
    JobStartFailed,
    LabelmapMissing,
    PrepassDatasetEmpty,
    PrepassDatasetUnlabeled,
    PrepassJobNotFound,
    PrepassNoSource,
    PrepassSourcesUnavailable,
)
from tator.jobs.types import JobRecord
from tator.prepass.config import PrepassConfig
from tator.prepass.dataset import plan_dataset
from tator.prepass.job import KIND, PREPASS_DATASET

router = IndexedRouter(prefix="/prepass", tags=["prepass"])
_ERRORS = (
    DatasetNotFound, DatasetNotYoloReady, LabelmapMissing, PrepassDatasetEmpty, PrepassDatasetUnlabeled,
    PrepassNoSource, PrepassSourcesUnavailable, ClassifierNotFound, ClassifierPathNotAllowed, JobStartFailed,
)  # fmt: skip


class PrepassJobRequest(PrepassConfig):
    model_config = ConfigDict(extra="forbid", frozen=False)

    dataset_id: str = Field(description="The dataset to prelabel (its labelmap and glossary are used).")
    classifier_id: str | None = Field(
        default=None, description="Classifier head (.npz) path in the classifiers folder; default: the active head."
    )
    use_cache: bool = Field(default=True, description="Reuse per-image results of the same config (resume).")

    def config(self) -> PrepassConfig:
        return PrepassConfig.model_validate(self.model_dump(include=set(PrepassConfig.model_fields)))


def prepass_job_view(record: JobRecord) -> dict[str, Any]:
    """The job shape of the training routes, with the image list of the config replaced by its length."""
    view = job_view(record)
    config = dict(view["config"] or {})
    config["images"] = len(config.get("images") or [])
    return {**view, "config": config}


@router.post("/jobs", status_code=202, responses=responses(*_ERRORS))
def start_prepass_job(
    body: PrepassJobRequest, layout: LayoutDep, jobs: JobsDep, server: ServerModelsDep
) -> dict[str, Any]:
    """Queue a prepass over a dataset; 4xx (unknown dataset, no labels, no source) before anything is queued."""
    plan = plan_dataset(layout, server, body.dataset_id, body.config(), classifier_id=body.classifier_id,
                        use_cache=body.use_cache)  # fmt: skip
    record = jobs.submit_kind(PREPASS_DATASET, plan)
    return {"job_id": record.job_id, "status": record.status.value, "config_key": plan.config_key}


add_job_routes(router, "/jobs", KIND, PrepassJobNotFound, view=prepass_job_view)

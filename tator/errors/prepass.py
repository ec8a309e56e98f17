"""Error codes of the prepass (`/qwen/prepass` and the dataset prepass jobs)."""

from __future__ import annotations

from tator.errors.base import TatorError


class PrepassNoSource(TatorError):
    code, status = "prepass_no_source", 400


class PrepassSourcesUnavailable(TatorError):
    code, status = "prepass_sources_unavailable", 412


class PrepassLabelmapRequired(TatorError):
    code, status = "prepass_labelmap_required", 400


class PrepassDatasetUnlabeled(TatorError):
    code, status = "prepass_dataset_unlabeled", 400


class PrepassDatasetEmpty(TatorError):
    code, status = "prepass_dataset_empty", 400


class PrepassJobNotFound(TatorError):
    code, status = "prepass_job_not_found", 404

"""Error codes of agent mining: the mining job, its cache, and applying recipes to an image."""

from __future__ import annotations

from tator.errors.base import TatorError

__all__ = [
    "AgentApplyRequiresSam3",
    "AgentCachePurgeBlocked",
    "AgentClipClassifierPathNotAllowed",
    "AgentMiningClipHeadRequired",
    "AgentMiningEmptySample",
    "AgentMiningJobNotFound",
    "AgentMiningNoClassesSelected",
    "AgentMiningResultNotFound",
    "RecipeRequired",
    "StepsRequired",
]


class AgentMiningJobNotFound(TatorError):
    code, status = "agent_mining_job_not_found", 404


class AgentMiningResultNotFound(TatorError):
    code, status = "agent_mining_result_not_found", 404


class AgentCachePurgeBlocked(TatorError):
    code, status = "agent_cache_purge_blocked_active_jobs", 409


class AgentClipClassifierPathNotAllowed(TatorError):
    code, status = "agent_clip_classifier_path_not_allowed", 400


class AgentMiningClipHeadRequired(TatorError):
    """A head was named but is missing, not a `.npz` head, or does not load."""

    code, status = "agent_mining_clip_head_required", 400


class AgentMiningNoClassesSelected(TatorError):
    code, status = "agent_mining_no_classes_selected", 400


class AgentMiningEmptySample(TatorError):
    code, status = "agent_mining_empty_sample", 400


class AgentApplyRequiresSam3(TatorError):
    code, status = "agent_apply_requires_sam3", 400


class RecipeRequired(TatorError):
    code, status = "recipe_required", 422


class StepsRequired(TatorError):
    code, status = "steps_required", 422

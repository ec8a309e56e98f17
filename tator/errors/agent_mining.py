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
    """No agent-mining job has this id."""

    code, status = "agent_mining_job_not_found", 404


class AgentMiningResultNotFound(TatorError):
    """No agent-mining job has run yet."""

    code, status = "agent_mining_result_not_found", 404


class AgentCachePurgeBlocked(TatorError):
    """The mining cache cannot be purged while a mining job is queued or running."""

    code, status = "agent_cache_purge_blocked_active_jobs", 409


class AgentClipClassifierPathNotAllowed(TatorError):
    """The head path lies outside the classifier store."""

    code, status = "agent_clip_classifier_path_not_allowed", 400


class AgentMiningClipHeadRequired(TatorError):
    """A head was named but is missing, not a `.npz` head, or does not load."""

    code, status = "agent_mining_clip_head_required", 400


class AgentMiningNoClassesSelected(TatorError):
    """The requested class ids are not in the dataset's labelmap."""

    code, status = "agent_mining_no_classes_selected", 400


class AgentMiningEmptySample(TatorError):
    """The sampled images hold no ground-truth box of the selected classes."""

    code, status = "agent_mining_empty_sample", 400


class AgentApplyRequiresSam3(TatorError):
    """Recipes run only on SAM3 (sam_variant 'sam3')."""

    code, status = "agent_apply_requires_sam3", 400


class RecipeRequired(TatorError):
    """apply_image needs a non-empty recipe."""

    code, status = "recipe_required", 422


class StepsRequired(TatorError):
    """apply_image_chain needs at least one enabled step."""

    code, status = "steps_required", 422

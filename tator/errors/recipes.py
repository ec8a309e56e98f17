"""Error codes of the prepass recipe, mining recipe and cascade stores and their zip bundles (export/import)."""

from __future__ import annotations

from tator.errors.base import TatorError

# --- prepass recipes (/prepass/recipes) ---


class PrepassRecipeNotFound(TatorError):
    """No prepass recipe has this id."""

    code, status = "prepass_recipe_not_found", 404


class PrepassRecipePathInvalid(TatorError):
    """A recipe id that is not one safe path component."""

    code, status = "prepass_recipe_path_invalid", 400


class PrepassRecipeInvalidConfig(TatorError):
    """A recipe config that is not a JSON object (or not a valid prepass config)."""

    code, status = "prepass_recipe_invalid_config", 400


class PrepassRecipeLegacyCrossIouUnsupported(TatorError):
    """A recipe config with the legacy `cross_iou` key (use the dedupe settings)."""

    code, status = "prepass_recipe_legacy_cross_iou_unsupported", 400


class PrepassRecipeInvalidMedia(TatorError):
    """import-raw needs the body as `application/zip`."""

    code, status = "prepass_recipe_invalid_media", 415


class PrepassRecipeArchiveInvalid(TatorError):
    """A recipe archive that is not a readable zip (corrupt, encrypted, special or duplicate members)."""

    code, status = "prepass_recipe_archive_invalid", 400


class PrepassRecipeArchivePathTraversal(TatorError):
    """A recipe archive member that is absolute, a symlink or escapes with `..`."""

    code, status = "prepass_recipe_archive_path_traversal", 400


class PrepassRecipeArchiveTooLarge(TatorError):
    """A recipe archive over the size or member-count caps (or a zip bomb)."""

    code, status = "prepass_recipe_archive_too_large", 413


class PrepassRecipeManifestInvalid(TatorError):
    """A recipe archive whose manifest.json is absent, not a JSON object, of another kind, or malformed."""

    code, status = "prepass_recipe_manifest_invalid", 400


class PrepassRecipeSchemaMismatch(TatorError):
    """A recipe archive manifest of an unsupported schema version."""

    code, status = "prepass_recipe_schema_mismatch", 400


class PrepassRecipeManifestPath(TatorError):
    """A manifest asset path that is not a safe relative path."""

    code, status = "prepass_recipe_manifest_path", 400


class PrepassRecipeManifestMissing(TatorError):
    """An asset the manifest lists is not in the archive."""

    code, status = "prepass_recipe_manifest_missing", 400


class PrepassRecipeAssetMismatch(TatorError):
    """An archive member whose size or sha256 differs from the manifest, or that the manifest does not list."""

    code, status = "prepass_recipe_asset_mismatch", 400


class PrepassRecipeAssetUnsafe(TatorError):
    """An archive member of a file type that could run code when loaded (pickle, .pt, .joblib ...)."""

    code, status = "prepass_recipe_asset_unsafe", 400


# --- agent mining recipes (/agent_mining/recipes) ---


class AgentRecipeNotFound(TatorError):
    """No mining recipe has this id."""

    code, status = "agent_recipe_not_found", 404


class AgentRecipePathInvalid(TatorError):
    """A mining recipe id that is not `ar_` + hex."""

    code, status = "agent_recipe_path_invalid", 400


class AgentRecipeEmpty(TatorError):
    """A mining recipe with no steps."""

    code, status = "agent_recipe_empty", 400


class AgentRecipeInvalidSchema(TatorError):
    """A mining recipe that does not match the recipe schema."""

    code, status = "agent_recipe_invalid_schema", 400


class AgentRecipeClassMissing(TatorError):
    """The recipe's class is not in the dataset's labelmap."""

    code, status = "agent_recipe_class_missing", 412


class AgentRecipeLabelmapMissing(TatorError):
    """The recipe's dataset has no labelmap."""

    code, status = "agent_recipe_labelmap_missing", 412


class AgentRecipeImportFailed(TatorError):
    """A mining recipe archive that is not a readable zip (corrupt, encrypted, special or duplicate members)."""

    code, status = "agent_recipe_import_failed", 400


class AgentRecipeImportInvalidPath(TatorError):
    """A mining recipe archive member or manifest path that is absolute, a symlink or escapes."""

    code, status = "agent_recipe_import_invalid_path", 400


class AgentRecipeImportTooLarge(TatorError):
    """A mining recipe archive over the size or member-count caps."""

    code, status = "agent_recipe_import_too_large", 413


class AgentRecipeImportManifestInvalid(TatorError):
    """A mining recipe archive whose manifest.json is absent or malformed."""

    code, status = "agent_recipe_import_manifest_invalid", 400


class AgentRecipeImportSchemaMismatch(TatorError):
    """A mining recipe archive manifest of an unsupported schema version."""

    code, status = "agent_recipe_import_schema_mismatch", 400


class AgentRecipeImportMemberMissing(TatorError):
    """An asset the mining recipe manifest lists is not in the archive."""

    code, status = "agent_recipe_import_member_missing", 400


class AgentRecipeImportAssetMismatch(TatorError):
    """A mining recipe archive member whose size or sha256 differs from the manifest, or that is unlisted."""

    code, status = "agent_recipe_import_asset_mismatch", 400


class AgentRecipeImportAssetUnsafe(TatorError):
    """A mining recipe archive member of a file type that could run code when loaded."""

    code, status = "agent_recipe_import_asset_unsafe", 400


# --- agent mining cascades (/agent_mining/cascades) ---


class AgentCascadeNotFound(TatorError):
    """No cascade has this id."""

    code, status = "agent_cascade_not_found", 404


class AgentCascadePathInvalid(TatorError):
    """A cascade id that is not `ac_` + hex."""

    code, status = "agent_cascade_path_invalid", 400


class AgentCascadeInvalidSchema(TatorError):
    """A cascade that does not match the cascade schema."""

    code, status = "agent_cascade_invalid_schema", 400


class AgentCascadeRecipeMissing(TatorError):
    """A cascade step names a recipe id that is not stored."""

    code, status = "agent_cascade_recipe_missing", 400


class AgentCascadeImportFailed(TatorError):
    """A cascade archive that is not a readable zip (corrupt, encrypted, special or duplicate members)."""

    code, status = "agent_cascade_import_failed", 400


class AgentCascadeImportInvalidPath(TatorError):
    """A cascade archive member or manifest path that is absolute, a symlink or escapes."""

    code, status = "agent_cascade_import_invalid_path", 400


class AgentCascadeImportTooLarge(TatorError):
    """A cascade archive over the size or member-count caps."""

    code, status = "agent_cascade_import_too_large", 413


class AgentCascadeImportManifestInvalid(TatorError):
    """A cascade archive whose manifest.json is absent or malformed."""

    code, status = "agent_cascade_import_manifest_invalid", 400


class AgentCascadeImportSchemaMismatch(TatorError):
    """A cascade archive manifest of an unsupported schema version."""

    code, status = "agent_cascade_import_schema_mismatch", 400


class AgentCascadeImportMemberMissing(TatorError):
    """An asset the cascade manifest lists is not in the archive."""

    code, status = "agent_cascade_import_member_missing", 400


class AgentCascadeImportAssetMismatch(TatorError):
    """A cascade archive member whose size or sha256 differs from the manifest, or that is unlisted."""

    code, status = "agent_cascade_import_asset_mismatch", 400


class AgentCascadeImportAssetUnsafe(TatorError):
    """A cascade archive member of a file type that could run code when loaded."""

    code, status = "agent_cascade_import_asset_unsafe", 400

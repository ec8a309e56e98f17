import pytest
from pydantic import ValidationError

from tator.agent_mining.recipe import Cascade, CascadeStep, MiningRecipe


def _recipe() -> dict[str, object]:
    return {"class_name": "cat", "steps": [{"prompt": "cat", "seed_threshold": 0.3}, {"prompt": "kitten"}]}


def test_recipe_defaults_and_reference_shape() -> None:
    recipe = MiningRecipe.model_validate(
        {**_recipe(), "schema_version": 2, "mode": "sam3_steps", "clip_head": {"min_prob": 0.7}}
    )
    assert recipe.steps[1].seed_threshold == 0.02
    assert recipe.params.dedupe_iou == 0.5 and recipe.params.max_visual_seeds == 25
    assert recipe.clip_head is not None and recipe.clip_head.apply == "final"


@pytest.mark.parametrize(
    "patch",
    [
        {"steps": []},
        {"steps": [{"prompt": "  "}]},
        {"steps": [{"prompt": "cat", "seed_threshold": 1.5}]},
        {"steps": [{"prompt": "cat", "enabled": False}]},
        {"params": {"dedupe_iou": -0.1}},
        {"mode": "sam3_greedy"},
        {"unknown": 1},
    ],
)
def test_recipe_refuses_bad_shapes(patch: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MiningRecipe.model_validate({**_recipe(), **patch})


def test_cascade_step_names_exactly_one_source() -> None:
    with pytest.raises(ValidationError):
        CascadeStep.model_validate({})
    with pytest.raises(ValidationError):
        CascadeStep.model_validate({"recipe_id": "ar_1", "recipe": _recipe()})
    assert CascadeStep.model_validate({"recipe": _recipe()}).recipe is not None


def test_cascade_needs_an_enabled_step_and_lists_its_recipes() -> None:
    with pytest.raises(ValidationError):
        Cascade.model_validate({"steps": [{"recipe_id": "ar_1", "enabled": False}]})
    cascade = Cascade.model_validate(
        {
            "steps": [{"recipe_id": "ar_1"}, {"recipe_id": "ar_2"}, {"recipe_id": "ar_1"}],
            "dedupe": {"confidence": "clip_head_prob", "clip_head_recipe_id": "ar_3"},
        }
    )
    assert cascade.recipe_ids() == ["ar_1", "ar_2", "ar_3"]

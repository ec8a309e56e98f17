from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api.sam3.support import sam_client
from tests.api.sam3.test_train import _upload

__all__ = ["sam_client"]


def _wait(client: TestClient, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/sam3/prompt_helper/jobs/{job_id}").json()
        if body["status"] in ("succeeded", "failed", "cancelled", "interrupted"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


@pytest.fixture
def shapes(sam_client: TestClient, tmp_path: Path) -> list[str]:
    _upload(sam_client, tmp_path, "shapes")
    classes: list[str] = sam_client.get("/sam3/datasets/shapes/classes").json()["classes"]
    return classes


def test_suggest_and_expand_without_qwen(sam_client: TestClient, shapes: list[str]) -> None:
    suggested = sam_client.post("/sam3/prompt_helper/suggest", json={"dataset_id": "shapes", "max_synonyms": 2})
    assert suggested.status_code == 200, suggested.text
    body = suggested.json()
    assert [c["class_name"] for c in body["classes"]] == shapes and body["qwen_used"] is False
    for entry in body["classes"]:
        assert 1 <= len(entry["prompts"]) <= 3 and len({p.lower() for p in entry["prompts"]}) == len(entry["prompts"])
    expanded = sam_client.post(
        "/sam3/prompt_helper/expand",
        json={"dataset_id": "shapes", "class_id": 0, "base_prompts": [shapes[0].upper(), "thing", "Thing"]},
    ).json()
    assert expanded["class_name"] == shapes[0] and expanded["base_prompts"] == [shapes[0].upper(), "thing"]
    lowered = [p.lower() for p in expanded["combined"]]
    assert len(lowered) == len(set(lowered)) and shapes[0].lower() not in [p.lower() for p in expanded["new_prompts"]]
    missing = sam_client.post("/sam3/prompt_helper/expand", json={"dataset_id": "shapes", "class_id": 99})
    assert (missing.status_code, missing.json()["detail"]) == (404, "recipe_class_not_found")
    nodata = sam_client.post("/sam3/prompt_helper/suggest", json={"dataset_id": "nope"})
    assert (nodata.status_code, nodata.json()["detail"]) == (404, "sam3_dataset_not_found")


def test_scoring_jobs_run_against_ground_truth(sam_client: TestClient, shapes: list[str]) -> None:
    common = {"dataset_id": "shapes", "score_threshold": 0.0, "max_dets": 5}
    ph = sam_client.post("/sam3/prompt_helper/jobs", json={**common, "sample_per_class": 2, "max_synonyms": 1})
    assert ph.status_code == 200 and ph.json()["job_id"].startswith("ph_")
    search = sam_client.post(
        "/sam3/prompt_helper/search",
        json={**common, "sample_per_class": 2, "negatives_per_class": 1, "precision_floor": 0.0,
              "prompts_by_class": {"0": ["square", "box"]}},
    )  # fmt: skip
    assert search.status_code == 200 and search.json()["job_id"].startswith("phs_")
    recipe = sam_client.post(
        "/sam3/prompt_helper/recipe",
        json={**common, "class_id": 0, "sample_size": 3, "prompts": [{"prompt": "square", "thresholds": [0.0, 0.5]},
              {"prompt": "thing"}]},
    )  # fmt: skip
    assert recipe.status_code == 200 and recipe.json()["job_id"].startswith("phr_")
    done = {name: _wait(sam_client, r.json()["job_id"]) for name, r in (("ph", ph), ("phs", search), ("phr", recipe))}
    assert all(d["status"] == "succeeded" for d in done.values()), done
    ranked = done["ph"]["result"]["classes"]
    assert [c["class_name"] for c in ranked] == shapes
    for row in ranked[0]["prompts"]:
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1 and row["gt"] > 0
    best = done["phs"]["result"]["classes"][0]["best"]
    assert best is not None and best["prompt"] in ("square", "box")
    steps = done["phr"]["result"]["classes"][0]["steps"]
    recalls = [s["cumulative_recall"] for s in steps]
    assert recalls == sorted(recalls) and all(s["new_matches"] > 0 for s in steps)
    assert done["phr"]["total_steps"] == 3 and done["phr"]["completed_steps"] == 3
    listed = {j["job_id"] for j in sam_client.get("/sam3/prompt_helper/jobs").json()}
    assert listed == {d["job_id"] for d in done.values()}
    assert sam_client.get("/sam3/prompt_helper/jobs/ph_nope").json()["detail"] == "prompt_helper_job_not_found"


@pytest.mark.parametrize(
    ("path", "fields", "status", "code"),
    [
        ("/sam3/prompt_helper/search", {}, 400, "search_prompts_required"),
        ("/sam3/prompt_helper/search", {"prompts_by_class": {"0": []}}, 400, "search_prompts_empty"),
        ("/sam3/prompt_helper/search", {"prompts_by_class": {"7": ["x"]}}, 404, "search_class_not_found"),
        ("/sam3/prompt_helper/recipe", {"class_id": 0}, 400, "recipe_prompts_required"),
        ("/sam3/prompt_helper/recipe", {"class_id": 9, "prompts": [{"prompt": "x"}]}, 404, "recipe_class_not_found"),
    ],
)
def test_scoring_job_refusals_queue_nothing(
    sam_client: TestClient, shapes: list[str], path: str, fields: dict[str, Any], status: int, code: str
) -> None:
    assert shapes
    response = sam_client.post(path, json={"dataset_id": "shapes", **fields})
    assert (response.status_code, response.json()["detail"]) == (status, code)
    assert sam_client.get("/sam3/prompt_helper/jobs").json() == []


def test_presets_round_trip(sam_client: TestClient, shapes: list[str]) -> None:
    prompts = {"0": ["square", "Square", "box"], "1": []}
    saved = sam_client.post(
        "/sam3/prompt_helper/presets",
        data={"dataset_id": "shapes", "label": "mine", "prompts_json": json.dumps(prompts)},
    )
    assert saved.status_code == 200, saved.text
    preset = saved.json()
    assert preset["id"].startswith("phset_") and preset["prompts_by_class"] == {"0": ["square", "box"]}
    assert sam_client.get(f"/sam3/prompt_helper/presets/{preset['id']}").json() == preset
    assert [p["id"] for p in sam_client.get("/sam3/prompt_helper/presets").json()] == [preset["id"]]
    for text, code in (
        ("{", "invalid_prompts"),
        ("[1]", "prompts_must_be_object"),
        ('{"0": []}', "no_prompts_provided"),
    ):
        bad = sam_client.post("/sam3/prompt_helper/presets", data={"dataset_id": "shapes", "prompts_json": text})
        assert (bad.status_code, bad.json()["detail"]) == (400, code)
    for preset_id in ("nope", "..%2F..%2Fetc"):
        assert sam_client.get(f"/sam3/prompt_helper/presets/{preset_id}").status_code == 404
    assert shapes

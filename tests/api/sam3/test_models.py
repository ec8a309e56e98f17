from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.sam3.support import sam_client, shapes_image

__all__ = ["sam_client"]


def _make_run(client: TestClient, tiny_zoo: dict[str, Path], run_id: str) -> Path:
    uploads: Path = client.app.state.tator.settings.uploads_dir  # type: ignore[attr-defined]
    run = uploads / "sam3_runs" / run_id
    shutil.copytree(tiny_zoo["sam3"], run / "model")
    (run / "logs").mkdir()
    (run / "logs" / "train.log").write_text("step 1\n")
    return run


def test_base_model_is_listed_and_active(sam_client: TestClient) -> None:
    listed = sam_client.get("/sam3/models/available").json()
    assert listed[0]["id"] == "base" and listed[0]["active"] is True
    assert sam_client.get("/sam3/models").json() == listed
    assert sam_client.get("/sam3/models/available", params={"variant": "sam1"}).json() == []


def test_activate_a_run_prompt_with_it_and_protect_it(sam_client: TestClient, tiny_zoo: dict[str, Path]) -> None:
    run = _make_run(sam_client, tiny_zoo, "run1")
    activated = sam_client.post("/sam3/models/activate", json={"checkpoint_path": "sam3_runs/run1/model"})
    assert activated.status_code == 200, activated.text
    active = activated.json()["active"]
    assert active["source"] == "custom" and active["id"] == "run1"
    runs = sam_client.get("/sam3/storage/runs").json()
    assert [(r["id"], r["active"], r["promoted"]) for r in runs] == [("run1", True, False)]
    image = shapes_image(64, 64, box=(1, 1, 20, 20))
    answer = sam_client.post("/sam3/text_prompt", json={"image_base64": image, "text_prompt": "x", "threshold": 0})
    assert answer.status_code == 200
    loaded = [m.key for m in sam_client.app.state.tator.registry.describe()]  # type: ignore[attr-defined]
    assert loaded == [f"sam3:{(run / 'model').resolve()}"]
    blocked = sam_client.delete("/sam3/storage/runs/run1")
    assert (blocked.status_code, blocked.json()["detail"]) == (409, "sam3_run_active")
    logs = sam_client.delete("/sam3/storage/runs/run1", params={"scope": "logs"}).json()
    assert logs["freed_bytes"] == 7 and not (run / "logs").exists()
    promoted = sam_client.post("/sam3/storage/runs/run1/promote").json()
    assert promoted["promoted"] is True
    assert [m["id"] for m in sam_client.get("/sam3/models", params={"promoted_only": True}).json()] == ["base", "run1"]
    assert sam_client.post("/sam3/models/activate", json={"checkpoint_path": None}).json()["active"]["id"] == "base"
    deleted = sam_client.delete("/sam3/storage/runs/run1").json()
    assert deleted["freed_bytes"] > 0 and not run.exists()


def test_bad_checkpoints_and_runs(sam_client: TestClient, tmp_path: Path) -> None:
    outside = sam_client.post("/sam3/models/activate", json={"checkpoint_path": str(tmp_path)})
    assert (outside.status_code, outside.json()["detail"]) == (400, "sam3_checkpoint_path_invalid")
    escape = sam_client.post("/sam3/models/activate", json={"checkpoint_path": "../../etc"})
    assert escape.json()["detail"] == "sam3_checkpoint_path_invalid"
    missing = sam_client.post("/sam3/models/activate", json={"checkpoint_path": "sam3_runs/nope/model"})
    assert (missing.status_code, missing.json()["detail"]) == (404, "sam3_checkpoint_not_found")
    assert sam_client.delete("/sam3/storage/runs/nope").json()["detail"] == "sam3_run_not_found"
    assert sam_client.delete("/sam3/storage/runs/x", params={"scope": "bad"}).json()["detail"] == "invalid_scope"
    assert sam_client.post("/sam3/storage/runs/..%2F..%2Fetc/promote").status_code in (400, 404)

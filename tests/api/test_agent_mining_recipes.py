"""`/agent_mining/recipes` and `/agent_mining/cascades`: stored with stable codes, round-tripped through zips."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tator.agent_mining.recipe_store import load_recipe
from tator.bundles.archive import BundleFile, write_bundle
from tator.clip.head import build_head, save_head
from tator.settings import Settings
from tator.storage.layout import Layout

STEPS = [{"prompt": "dog", "seed_threshold": 0.3}, {"prompt": "puppy"}]


@pytest.fixture
def uploads(settings: Settings) -> Path:
    root = settings.uploads_dir
    (root / "datasets" / "ds1").mkdir(parents=True, exist_ok=True)
    (root / "datasets" / "ds1" / "labelmap.txt").write_text("cat\ndog\n")
    (root / "datasets" / "bare").mkdir(exist_ok=True)
    (root / "datasets" / "bare" / "notes.txt").write_text("no labelmap")
    (root / "classifiers").mkdir(parents=True, exist_ok=True)
    head = build_head(["cat", "dog"], [(np.eye(2, 4, dtype=np.float32), np.zeros(2, np.float32))])
    save_head(head, root / "classifiers" / "head.npz")
    return root


def _recipe(client: TestClient, **overrides: Any) -> Any:
    body = {"dataset_id": "ds1", "class_name": "Dog", "label": "dogs",
            "recipe": {"steps": STEPS, "clip_head": {"classifier_path": "head.npz", "min_prob": 0.6}}}  # fmt: skip
    return client.post("/agent_mining/recipes", json={**body, **overrides})


def test_recipe_is_stored_with_its_class_labelmap_and_own_head(client: TestClient, uploads: Path) -> None:
    response = _recipe(client)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["id"].startswith("ar_") and len(saved["id"]) == 11
    assert (saved["class_id"], saved["class_name"], saved["labelmap"]) == (1, "dog", ["cat", "dog"])
    assert saved["recipe"]["steps"][1]["seed_threshold"] == 0.02 and saved["recipe"]["class_id"] == 1
    assert saved["clip_head"]["classes"] == ["cat", "dog"]
    stored = uploads / "agent_mining" / "recipes" / saved["id"] / "clip_head" / "head.npz"
    assert stored.read_bytes() == (uploads / "classifiers" / "head.npz").read_bytes()
    assert client.get(f"/agent_mining/recipes/{saved['id']}").json()["label"] == "dogs"
    assert [r["id"] for r in client.get("/agent_mining/recipes", params={"dataset_id": "ds1"}).json()] == [saved["id"]]
    assert client.get("/agent_mining/recipes", params={"dataset_id": "other"}).json() == []
    assert client.delete(f"/agent_mining/recipes/{saved['id']}").json() == {"id": saved["id"], "deleted": True}
    assert client.get(f"/agent_mining/recipes/{saved['id']}").status_code == 404


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"recipe": {}}, 400, "agent_recipe_empty"),
        ({"recipe": {"steps": []}}, 400, "agent_recipe_empty"),
        ({"recipe": {"steps": [{"prompt": "dog", "seed_threshold": 2}]}}, 400, "agent_recipe_invalid_schema"),
        ({"recipe": {"steps": STEPS, "mode": "sam3_greedy"}}, 400, "agent_recipe_invalid_schema"),
        ({"class_name": "horse"}, 412, "agent_recipe_class_missing"),
        ({"class_name": None, "class_id": 7}, 412, "agent_recipe_class_missing"),
        ({"dataset_id": "bare"}, 412, "agent_recipe_labelmap_missing"),
        ({"dataset_id": "nope"}, 404, "dataset_not_found"),
        ({"recipe": {"steps": STEPS, "clip_head": {"classifier_path": "../../x.npz"}}}, 400,
         "classifier_path_not_allowed"),
        ({"recipe": {"steps": STEPS, "clip_head": {"classifier_path": "/etc/passwd"}}}, 400,
         "classifier_path_not_allowed"),
        ({"recipe": {"steps": STEPS, "clip_head": {"classifier_path": "missing.npz"}}}, 404, "classifier_not_found"),
        ({"label": ""}, 422, "validation_error"),
    ],
)  # fmt: skip
def test_bad_recipes_get_stable_codes(
    client: TestClient, uploads: Path, overrides: dict[str, Any], status: int, code: str
) -> None:
    response = _recipe(client, **overrides)
    assert response.status_code == status, response.text
    if status != 422:
        assert response.json()["detail"] == code
    assert not any((uploads / "agent_mining" / "recipes").glob("ar_*"))


@pytest.mark.usefixtures("uploads")
def test_bad_ids_are_refused(client: TestClient) -> None:
    for path, status, code in [
        ("/agent_mining/recipes/xyz", 400, "agent_recipe_path_invalid"),
        ("/agent_mining/recipes/ar_00000000", 404, "agent_recipe_not_found"),
        ("/agent_mining/cascades/ac_zz", 400, "agent_cascade_path_invalid"),
        ("/agent_mining/cascades/ac_00000000", 404, "agent_cascade_not_found"),
    ]:
        response = client.get(path)
        assert (response.status_code, response.json()["detail"]) == (status, code), path


def _zip_file(content: bytes) -> dict[str, Any]:
    return {"file": ("bundle.zip", content, "application/zip")}


@pytest.mark.usefixtures("uploads")
def test_recipe_export_import_round_trip_renames(client: TestClient, settings: Settings) -> None:
    saved = _recipe(client).json()
    exported = client.get(f"/agent_mining/recipes/{saved['id']}/export")
    assert exported.status_code == 200
    with zipfile.ZipFile(io.BytesIO(exported.content)) as zf:
        assert sorted(zf.namelist()) == ["clip_head/head.npz", "manifest.json", "recipe.json"]
    imported = client.post("/agent_mining/recipes/import", files=_zip_file(exported.content)).json()
    assert imported["id"] != saved["id"] and imported["label"] == "dogs (1)" and imported["renamed_from"] == "dogs"
    assert imported["clip_head"]["sha256"] == saved["clip_head"]["sha256"]
    assert imported["recipe"]["clip_head"]["classifier_path"] == "head_1.npz"  # published for apply, fresh name
    assert {**imported["recipe"], "clip_head": None} == {**saved["recipe"], "clip_head": None}
    assert len(client.get("/agent_mining/recipes").json()) == 2
    published = settings.uploads_dir / "classifiers" / "head_1.npz"
    assert published.read_bytes() == (settings.uploads_dir / "classifiers" / "head.npz").read_bytes()


def _hostile_recipe(tmp: Path, head: bytes) -> bytes:
    record = {"label": "x", "recipe": {"steps": STEPS}}
    files = [BundleFile("recipe.json", "recipe", json.dumps(record).encode()),
             BundleFile("clip_head/head.npz", "classifier_head", head)]  # fmt: skip
    write_bundle(tmp / "h.zip", kind="agent_recipe", name="x", files=files)
    return (tmp / "h.zip").read_bytes()


def test_hostile_recipe_archives_are_refused(client: TestClient, uploads: Path, tmp_path: Path) -> None:
    npz = io.BytesIO()
    np.savez(npz, a=np.zeros(3))  # a safe .npz that is not a head
    traversal = io.BytesIO()
    with zipfile.ZipFile(traversal, "w") as zf:
        zf.writestr("manifest.json", "{}")
        zf.writestr("../../evil.json", "{}")
    cases = [
        (_hostile_recipe(tmp_path, pickle.dumps({"w": 1})), "agent_recipe_import_asset_unsafe"),
        (_hostile_recipe(tmp_path, npz.getvalue()), "agent_recipe_import_asset_unsafe"),
        (traversal.getvalue(), "agent_recipe_import_invalid_path"),
        (b"junk", "agent_recipe_import_failed"),
    ]
    for content, code in cases:
        response = client.post("/agent_mining/recipes/import", files=_zip_file(content))
        assert (response.status_code, response.json()["detail"]) == (400, code)
    root = uploads / "agent_mining" / "recipes"
    assert sorted(p.name for p in root.iterdir()) == []
    assert sorted(p.name for p in (uploads / "classifiers").iterdir()) == ["head.npz"]


def _cascade(client: TestClient, recipe_id: str, **overrides: Any) -> Any:
    body = {
        "label": "chain",
        "steps": [
            {"recipe_id": recipe_id, "dedupe_group": "animals"},
            {"recipe": {"steps": [{"prompt": "cat"}]}, "override_class_id": 0},
        ],
        "dedupe": {"cross_class_enabled": True, "confidence": "clip_head_prob", "clip_head_recipe_id": recipe_id},
    }
    return client.post("/agent_mining/cascades", json={**body, **overrides})  # fmt: skip


@pytest.mark.usefixtures("uploads")
def test_cascade_crud_and_bad_input(client: TestClient) -> None:
    recipe_id = _recipe(client).json()["id"]
    saved = _cascade(client, recipe_id).json()
    assert saved["id"].startswith("ac_") and saved["dedupe"]["per_class_iou"] == 0.5
    assert client.get(f"/agent_mining/cascades/{saved['id']}").json()["steps"][0]["recipe_id"] == recipe_id
    assert [c["id"] for c in client.get("/agent_mining/cascades").json()] == [saved["id"]]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"steps": []}, "agent_cascade_invalid_schema"),
        ({"steps": [{"recipe_id": recipe_id, "enabled": False}]}, "agent_cascade_invalid_schema"),
        ({"steps": [{"recipe_id": "ar_00000000"}]}, "agent_cascade_recipe_missing"),
        ({"dedupe": {"cross_class_scope": "planet"}}, "agent_cascade_invalid_schema"),
    ]
    for overrides, code in cases:
        response = _cascade(client, recipe_id, **overrides)
        assert (response.status_code, response.json()["detail"]) == (400, code), overrides
    assert client.delete(f"/agent_mining/cascades/{saved['id']}").json()["deleted"] is True
    assert client.get(f"/agent_mining/cascades/{saved['id']}").status_code == 404


@pytest.mark.usefixtures("uploads")
def test_cascade_export_import_brings_its_recipes(client: TestClient) -> None:
    recipe_id = _recipe(client).json()["id"]
    saved = _cascade(client, recipe_id).json()
    exported = client.get(f"/agent_mining/cascades/{saved['id']}/export").content
    with zipfile.ZipFile(io.BytesIO(exported)) as zf:
        assert f"recipes/{recipe_id}/clip_head/head.npz" in zf.namelist()
    imported = client.post("/agent_mining/cascades/import", files=_zip_file(exported)).json()
    new_recipe = imported["recipe_id_map"][recipe_id]
    assert new_recipe != recipe_id and imported["label"] == "chain (1)"
    assert imported["steps"][0]["recipe_id"] == new_recipe and imported["dedupe"]["clip_head_recipe_id"] == new_recipe
    assert client.get(f"/agent_mining/recipes/{new_recipe}").json()["label"] == "dogs (1)"
    bad = exported.replace(recipe_id.encode(), b"../../xx")  # names change length: refused, never installed
    response = client.post("/agent_mining/cascades/import", files=_zip_file(bad))
    assert response.status_code == 400 and response.json()["detail"].startswith("agent_cascade_import_")
    assert len(client.get("/agent_mining/recipes").json()) == 2


@pytest.mark.usefixtures("uploads")
def test_cascade_archive_naming_a_recipe_outside_is_refused(client: TestClient, tmp_path: Path) -> None:
    record = {"label": "c", "steps": [{"recipe_id": "../../../classifiers"}], "dedupe": {}}
    write_bundle(tmp_path / "c.zip", kind="agent_cascade", name="c",
                 files=[BundleFile("cascade.json", "cascade", json.dumps(record).encode())])  # fmt: skip
    response = client.post("/agent_mining/cascades/import", files=_zip_file((tmp_path / "c.zip").read_bytes()))
    assert (response.status_code, response.json()["detail"]) == (400, "agent_cascade_import_invalid_path")
    wrong_kind = client.post("/agent_mining/recipes/import", files=_zip_file((tmp_path / "c.zip").read_bytes()))
    assert (wrong_kind.status_code, wrong_kind.json()["detail"]) == (400, "agent_recipe_import_manifest_invalid")
    assert client.get("/agent_mining/cascades").json() == [] and client.get("/agent_mining/recipes").json() == []


def test_load_recipe_gives_apply_the_recipe_and_its_own_head(client: TestClient, uploads: Path) -> None:
    saved = _recipe(client).json()
    layout = Layout(uploads, uploads.parent / "logs")
    stored = load_recipe(layout, saved["id"])
    assert stored.recipe.class_name == "dog" and [s.prompt for s in stored.recipe.steps] == ["dog", "puppy"]
    assert stored.head_path is not None and stored.head_path.parent.parent.name == saved["id"]
    stored.head_path.write_bytes(b"broken")  # a damaged copy is reported as no head, not a crash
    assert load_recipe(layout, saved["id"]).head_path is None

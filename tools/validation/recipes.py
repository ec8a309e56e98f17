"""Rows for the prepass recipe store and the mining recipe / cascade stores (create, export -> import, delete).

Each row makes what it checks (a recipe, a small synthetic dataset, a head) and removes it afterwards.
"""

from __future__ import annotations

import io
import json
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tator itself, for datasets and head files

import numpy as np  # noqa: E402

from tator.clip.head import build_head, head_bytes  # noqa: E402
from tator.zoo.synthetic import make_detection_dataset  # noqa: E402
from validation.context import Row, ValidationContext  # noqa: E402

PREPASS = "Prepass Recipes"
MINING = "Agent Mining"
RAW = {"Content-Type": "application/zip"}


def _unique(prefix: str) -> str:
    return f"{prefix}_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"


def _expect(response: Any, status: int, code: str) -> None:
    assert (response.status_code, response.json().get("detail")) == (status, code), response.text[:300]


def _traversal_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("manifest.json", "{}")
        zf.writestr("../../escape.json", "{}")
    return buffer.getvalue()


def check_prepass_recipes(ctx: ValidationContext) -> str:
    name = _unique("validate_recipe")
    created: list[str] = []
    try:
        body = {"name": name, "config": {"sam3_text": True, "dedupe_iou": 0.75}, "glossary": "cat: kitten"}
        recipe = ctx.http.post("/prepass/recipes", json=body).raise_for_status().json()
        created.append(recipe["id"])
        again = ctx.http.post("/prepass/recipes", json={**body, "recipe_id": recipe["id"], "description": "v2"})
        assert again.json()["created_at"] == recipe["created_at"], again.text
        assert recipe["id"] in {r["id"] for r in ctx.http.get("/prepass/recipes").raise_for_status().json()}
        assert ctx.http.get(f"/prepass/recipes/{recipe['id']}").json()["description"] == "v2"
        _expect(ctx.http.post("/prepass/recipes", json={"name": name, "config": [1]}), 400,
                "prepass_recipe_invalid_config")  # fmt: skip
        _expect(ctx.http.post("/prepass/recipes", json={"name": name, "config": {"cross_iou": 0.5}}), 400,
                "prepass_recipe_legacy_cross_iou_unsupported")  # fmt: skip
        exported = ctx.http.post(f"/prepass/recipes/{recipe['id']}/export").raise_for_status().content
        manifest = json.loads(zipfile.ZipFile(io.BytesIO(exported)).read("manifest.json"))
        assert {a["path"] for a in manifest["assets"]} >= {"prepass.meta.json", "glossary.json"}, manifest
        raw = ctx.http.post("/prepass/recipes/import-raw", content=exported, headers=RAW).raise_for_status().json()
        created.append(raw["id"])
        form = ctx.http.post("/prepass/recipes/import", files={"file": ("r.zip", exported, "application/zip")})
        created.append(form.raise_for_status().json()["id"])
        assert raw["renamed_from"] == name and raw["name"] == f"{name} (1)", raw
        assert form.json()["name"] == f"{name} (2)" and raw["glossary"] == "cat: kitten", form.text
        _expect(ctx.http.post("/prepass/recipes/import-raw", content=exported, headers={"Content-Type": "text/plain"}),
                415, "prepass_recipe_invalid_media")  # fmt: skip
        _expect(ctx.http.post("/prepass/recipes/import-raw", content=_traversal_zip(), headers=RAW), 400,
                "prepass_recipe_archive_path_traversal")  # fmt: skip
    finally:
        for recipe_id in created:
            ctx.http.delete(f"/prepass/recipes/{recipe_id}")
    _expect(ctx.http.get(f"/prepass/recipes/{created[0]}"), 404, "prepass_recipe_not_found")
    return f"created, upserted, exported ({len(manifest['assets'])} assets), imported raw + multipart with renames"


def _upload_dataset(ctx: ValidationContext) -> tuple[str, list[str]]:
    name = _unique("validate_mining_recipe")
    ds = make_detection_dataset(ctx.workdir / name / name, n_train=4, n_val=0, image_size=64)
    archive = ctx.workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    with open(archive, "rb") as handle:
        response = ctx.http.post("/datasets/upload", files={"file": (archive.name, handle, "application/zip")})
    assert response.status_code == 200, response.text
    return name, list(ds.labelmap)


def _upload_head(ctx: ValidationContext, classes: list[str]) -> str:
    names = classes if len(classes) >= 2 else [*classes, "__bg_0"]
    layer = (np.eye(len(names), 8, dtype=np.float32), np.zeros(len(names), np.float32))
    data = head_bytes(build_head(names, [layer]))
    name = f"{_unique('validate_mining_head')}.npz"
    saved = ctx.http.post("/fs/upload_classifier", files={"file": (name, data)}).raise_for_status().json()
    return Path(saved["path"]).name


def _mining_round_trip(ctx: ValidationContext, dataset_id: str, classes: list[str], head: str) -> list[str]:
    recipe = {"steps": [{"prompt": classes[0], "seed_threshold": 0.3}], "clip_head": {"classifier_path": head}}
    body = {"dataset_id": dataset_id, "class_id": 0, "label": dataset_id, "recipe": recipe}
    saved = ctx.http.post("/agent_mining/recipes", json=body).raise_for_status().json()
    made = [saved["id"]]
    assert saved["clip_head"]["classes"], saved
    outside = {**body, "recipe": {**recipe, "clip_head": {"classifier_path": "/etc/passwd"}}}
    _expect(ctx.http.post("/agent_mining/recipes", json=outside), 400, "classifier_path_not_allowed")
    _expect(ctx.http.post("/agent_mining/recipes", json={**body, "recipe": {}}), 400, "agent_recipe_empty")
    exported = ctx.http.get(f"/agent_mining/recipes/{saved['id']}/export").raise_for_status().content
    files = {"file": ("r.zip", exported, "application/zip")}
    imported = ctx.http.post("/agent_mining/recipes/import", files=files).raise_for_status().json()
    made.append(imported["id"])
    assert imported["renamed_from"] == dataset_id and imported["recipe"]["steps"] == saved["recipe"]["steps"], imported
    assert imported["recipe"]["clip_head"]["classifier_path"] != head, imported  # published under a fresh name
    bad = {"file": ("r.zip", _traversal_zip(), "application/zip")}
    _expect(ctx.http.post("/agent_mining/recipes/import", files=bad), 400, "agent_recipe_import_invalid_path")
    return made


def _delete_recipe(ctx: ValidationContext, recipe_id: str, *, keep_head: str) -> None:
    """Delete a recipe and the head its import published in the classifiers folder (not the row's own head)."""
    record = ctx.http.get(f"/agent_mining/recipes/{recipe_id}")
    clip_head = (record.json().get("recipe") or {}).get("clip_head") if record.status_code == 200 else None
    ctx.http.delete(f"/agent_mining/recipes/{recipe_id}")
    if clip_head and clip_head.get("classifier_path") not in (None, keep_head):
        ctx.http.delete("/clip/classifiers", params={"rel_path": clip_head["classifier_path"]})


def check_mining_recipes(ctx: ValidationContext) -> str:
    dataset_id, classes = _upload_dataset(ctx)
    head = _upload_head(ctx, classes)
    recipes: list[str] = []
    cascades: list[str] = []
    try:
        recipes = _mining_round_trip(ctx, dataset_id, classes, head)
        cascade = {"label": dataset_id, "steps": [{"recipe_id": recipes[0]}], "dedupe": {"cross_class_enabled": True}}
        saved = ctx.http.post("/agent_mining/cascades", json=cascade).raise_for_status().json()
        cascades.append(saved["id"])
        exported = ctx.http.get(f"/agent_mining/cascades/{saved['id']}/export").raise_for_status().content
        files = {"file": ("c.zip", exported, "application/zip")}
        imported = ctx.http.post("/agent_mining/cascades/import", files=files).raise_for_status().json()
        cascades.append(imported["id"])
        recipes.extend(imported["recipe_id_map"].values())
        assert imported["steps"][0]["recipe_id"] == imported["recipe_id_map"][recipes[0]], imported
        listed = {c["id"] for c in ctx.http.get("/agent_mining/cascades").raise_for_status().json()}
        assert set(cascades) <= listed, listed
    finally:
        for cascade_id in cascades:
            ctx.http.delete(f"/agent_mining/cascades/{cascade_id}")
        for recipe_id in recipes:
            _delete_recipe(ctx, recipe_id, keep_head=head)
        ctx.http.delete("/clip/classifiers", params={"rel_path": head})
        ctx.http.delete(f"/datasets/{dataset_id}")
    return (
        f"recipe with embedded head exported/imported (renamed), cascade exported/imported with {len(recipes)} recipes"
    )


ROWS: list[Row] = [
    (PREPASS, "`/prepass/recipes` list/get/create/delete/import/export", check_prepass_recipes),
    (MINING, "Mining recipe and cascade store: create/export/import/delete", check_mining_recipes),
]

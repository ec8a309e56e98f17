"""`/prepass/recipes`: CRUD with stable codes, and export -> import round trips through the checked bundle."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.clip.head import build_head, save_head
from tator.settings import Settings
from tests.fakes import FakeLoader

RAW = {"Content-Type": "application/zip"}


def _save(client: TestClient, **body: Any) -> Any:
    response = client.post("/prepass/recipes", json={"name": "r", "config": {"sam3_text": True}, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_crud_upsert_keeps_created_at_and_lists_newest_first(client: TestClient) -> None:
    first = _save(client, name="a", glossary="cat: kitten")
    second = _save(client, name="b")
    again = _save(client, recipe_id=first["id"], name="a2", config={"x": 1})
    assert again["created_at"] == first["created_at"] and again["config"] == {"x": 1}
    listed = client.get("/prepass/recipes").json()
    assert [r["id"] for r in listed] == [first["id"], second["id"]]
    assert listed[0]["recipe_kind"] == "saved_edr" and len(listed[0]["recipe_fingerprint"]) == 64
    assert client.get(f"/prepass/recipes/{second['id']}").json()["glossary"] is None  # upsert replaces whole
    assert client.delete(f"/prepass/recipes/{first['id']}").json() == {"status": "deleted", "id": first["id"]}
    missing = client.get(f"/prepass/recipes/{first['id']}")
    assert (missing.status_code, missing.json()["detail"]) == (404, "prepass_recipe_not_found")
    assert client.delete(f"/prepass/recipes/{first['id']}").status_code == 404


def test_bad_recipes_get_stable_codes(client: TestClient) -> None:
    cases = [
        ({"name": "r", "config": [1, 2]}, 400, "prepass_recipe_invalid_config"),
        ({"name": "r", "config": "x"}, 400, "prepass_recipe_invalid_config"),
        ({"name": "r", "config": {"dedupe_iou": 5}}, 400, "prepass_recipe_invalid_config"),  # a known knob, bad
        ({"name": "r", "config": {"fusion_mode": "vote"}}, 400, "prepass_recipe_invalid_config"),
        ({"name": "r", "config": {"yolo_run_id": "../run"}}, 400, "prepass_recipe_invalid_config"),
        ({"name": "r", "config": {"calibrator_dir": "a/../../etc"}}, 400, "prepass_recipe_invalid_config"),
        ({"name": "r", "config": {"classifier_id": 3}}, 400, "prepass_recipe_invalid_config"),
        ({"name": "r", "config": {"dedupe": {"cross_iou": 0.5}}}, 400, "prepass_recipe_legacy_cross_iou_unsupported"),
        ({"name": "r", "config": {}, "recipe_id": ".hidden"}, 400, "prepass_recipe_path_invalid"),
        ({"config": {}}, 422, None),
    ]
    for body, status, code in cases:
        response = client.post("/prepass/recipes", json=body)
        assert response.status_code == status, body
        if code:
            assert response.json()["detail"] == code
    bad = client.get("/prepass/recipes/bad%20id")
    assert (bad.status_code, bad.json()["detail"]) == (400, "prepass_recipe_path_invalid")


def _assets(settings: Settings) -> dict[str, Any]:
    uploads = settings.uploads_dir
    head = build_head(["cat", "dog"], [(np.eye(2, 4, dtype=np.float32), np.zeros(2, np.float32))])
    (uploads / "classifiers").mkdir(parents=True, exist_ok=True)
    save_head(head, uploads / "classifiers" / "head.npz")
    cal = uploads / "calibration_jobs" / "cal1" / "calibrator"
    cal.mkdir(parents=True)
    (cal / "thresholds.json").write_text(json.dumps({"cat": 0.4}))
    (cal / "model.ubj").write_bytes(b"{i\x01}")
    (cal / "scaler.pkl").write_bytes(b"\x80\x04K\x01.")  # a pickle the exporter must leave behind
    run = uploads / "yolo_runs" / "run1"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"\x80\x04weights")
    (run / "labelmap.txt").write_text("cat\ndog\n")
    return {
        "classifier_id": "head.npz",
        "calibration_job_id": "cal1",
        "yolo_run_id": "run1",
        "labelmap": ["cat", "dog"],
    }


def test_export_import_round_trip_renames_and_reinstalls(client: TestClient, settings: Settings) -> None:
    recipe = _save(client, name="edr", config=_assets(settings), glossary="cat: kitten")
    exported = client.post(f"/prepass/recipes/{recipe['id']}/export")
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        names = set(zf.namelist())
    assert {"prepass.meta.json", "glossary.json", "labelmap.txt", "assets/classifier/head.npz",
            "assets/calibrator/thresholds.json", "assets/calibrator/model.ubj"} <= names  # fmt: skip
    assert not any(n.endswith((".pt", ".pkl")) for n in names)
    assert manifest["missing"] == ["calibrator:scaler.pkl"]
    assert manifest["references"][0]["id"] == "run1" and len(manifest["references"][0]["sha256"]) == 64
    assert all(len(a["sha256"]) == 64 and a["size"] > 0 for a in manifest["assets"])

    imported = client.post("/prepass/recipes/import-raw", content=exported.content, headers=RAW).json()
    assert imported["name"] == "edr (1)" and imported["renamed_from"] == "edr" and imported["id"] != recipe["id"]
    assert imported["warnings"] == [] and imported["glossary"] == "cat: kitten"
    assert imported["config"]["classifier_id"] == "head_1.npz"
    assert (settings.uploads_dir / "classifiers" / "head_1.npz").is_file()
    calibrator = settings.uploads_dir / imported["config"]["calibrator_dir"]
    assert json.loads((calibrator / "thresholds.json").read_text()) == {"cat": 0.4}
    again = client.post("/prepass/recipes/import", files={"file": ("r.zip", exported.content)}).json()
    assert again["name"] == "edr (2)"
    assert len(client.get("/prepass/recipes").json()) == 3


def test_import_warns_for_a_detector_run_it_lacks(client: TestClient, settings: Settings) -> None:
    recipe = _save(client, name="edr", config=_assets(settings))
    exported = client.post(f"/prepass/recipes/{recipe['id']}/export").content
    (settings.uploads_dir / "yolo_runs" / "run1" / "best.pt").write_bytes(b"other weights")
    answer = client.post("/prepass/recipes/import-raw", content=exported, headers=RAW).json()
    assert answer["warnings"] == ["yolo_run_weights_differ:run1"]
    (settings.uploads_dir / "yolo_runs" / "run1" / "best.pt").unlink()
    answer = client.post("/prepass/recipes/import-raw", content=exported, headers=RAW).json()
    assert answer["warnings"] == ["yolo_run_missing:run1"]


def _store_entries(settings: Settings) -> list[str]:
    return sorted(p.name for p in (settings.uploads_dir / "prepass_recipes").iterdir())


def _rewrite(archive: bytes, *, extra: dict[str, bytes] | None = None, change: dict[str, Any] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, (change or {}).get(info.filename, lambda d: d)(data))
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return out.getvalue()


def test_hostile_imports_are_refused_and_leave_nothing(client: TestClient, settings: Settings) -> None:
    recipe = _save(client, name="edr")
    good = client.post(f"/prepass/recipes/{recipe['id']}/export").content
    before = _store_entries(settings)
    same_size = {"prepass.meta.json": lambda data: data.replace(b"sam3_text", b"SAM3_TEXT")}
    cases = [
        (_rewrite(good, extra={"../escape.json": b"{}"}), 400, "prepass_recipe_archive_path_traversal"),
        (_rewrite(good, change=same_size), 400, "prepass_recipe_asset_mismatch"),
        (b"not a zip", 400, "prepass_recipe_archive_invalid"),
    ]
    for body, status, code in cases:
        response = client.post("/prepass/recipes/import-raw", content=body, headers=RAW)
        assert (response.status_code, response.json()["detail"]) == (status, code)
    wrong = client.post("/prepass/recipes/import-raw", content=good, headers={"Content-Type": "text/plain"})
    assert (wrong.status_code, wrong.json()["detail"]) == (415, "prepass_recipe_invalid_media")
    assert _store_entries(settings) == before


def test_oversized_archives_are_refused(settings: Settings, fake_loader: FakeLoader) -> None:
    small = settings.model_copy(update={"bundle_max_entry_bytes": 64})
    with TestClient(create_app(small, loaders={"fake": fake_loader})) as client:
        recipe = _save(client, name="edr", config={"note": "x" * 200})
        good = client.post(f"/prepass/recipes/{recipe['id']}/export").content
        response = client.post("/prepass/recipes/import-raw", content=good, headers=RAW)
        assert (response.status_code, response.json()["detail"]) == (413, "prepass_recipe_archive_too_large")


def test_an_exported_path_outside_the_classifiers_folder_is_refused(client: TestClient, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.npz"
    outside.write_bytes(b"x")
    recipe = _save(client, name="edr", config={"classifier_id": str(outside)})
    response = client.post(f"/prepass/recipes/{recipe['id']}/export")
    assert (response.status_code, response.json()["detail"]) == (400, "classifier_path_not_allowed")

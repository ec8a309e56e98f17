"""Prepass recipe bundles without HTTP: concurrent imports of one archive each get their own recipe."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tator.bundles.manifest import BundleLimits
from tator.prepass.recipes import PrepassRecipeStore
from tator.prepass.recipes_bundle import export_recipe, import_recipe
from tator.storage.layout import Layout

LIMITS = BundleLimits(max_archive_bytes=1 << 20, max_total_bytes=1 << 20, max_entry_bytes=1 << 20, max_members=64)


def test_concurrent_imports_of_one_archive_never_collide(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "uploads", tmp_path / "logs")
    store = PrepassRecipeStore(layout.root("prepass_recipes"))
    cal = layout.root("calibration_jobs") / "cal1" / "calibrator"
    cal.mkdir(parents=True)
    (cal / "thresholds.json").write_text(json.dumps({"cat": 0.5}))
    original = store.save(store.build(name="edr", config={"calibration_job_id": "cal1"}))
    archive, _ = export_recipe(store, layout, original["id"])
    store.delete(original["id"])  # every import now wants the archived id
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: import_recipe(store, layout, archive, LIMITS)[0], range(4)))
    ids = {record["id"] for record in results}
    assert len(ids) == 4 and original["id"] in ids
    for record in results:
        stored = store.get(record["id"])
        calibrator = layout.uploads_dir / stored["config"]["calibrator_dir"]
        assert json.loads((calibrator / "thresholds.json").read_text()) == {"cat": 0.5}, stored["config"]
    assert not [p.name for p in store.root.iterdir() if p.name.startswith(".staging-")]


def test_an_id_taken_between_check_and_rename_gets_a_fresh_one(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "uploads", tmp_path / "logs")
    store = PrepassRecipeStore(layout.root("prepass_recipes"))
    cal = layout.root("calibration_jobs") / "cal1" / "calibrator"
    cal.mkdir(parents=True)
    (cal / "thresholds.json").write_text("{}")
    original = store.save(store.build(name="edr", config={"calibration_job_id": "cal1"}))
    archive, _ = export_recipe(store, layout, original["id"])
    store.delete(original["id"])
    squatter = store.root / original["id"]
    squatter.mkdir()
    (squatter / "other.txt").write_text("a folder another request is filling")  # not a recipe yet
    record, _ = import_recipe(store, layout, archive, LIMITS)
    assert record["id"] != original["id"] and (squatter / "other.txt").is_file()
    assert record["config"]["calibrator_dir"].startswith(f"prepass_recipes/{record['id']}/")
    assert (layout.uploads_dir / record["config"]["calibrator_dir"] / "thresholds.json").is_file()

"""Classifier and labelmap files over HTTP, and `/fs/upload_classifier` (safe format, legacy conversion,
hostile pickles refused with nothing written)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression

from tator.app import create_app
from tator.clip.head import load_head
from tator.settings import Settings
from tests.clip.support import write_head


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_classifier_list_download_rename_delete(client: TestClient, settings: Settings) -> None:
    folder = settings.uploads_dir / "classifiers"
    write_head(folder, "alpha.npz", meta={"encoder_type": "clip", "clip_model": "ViT-B/32", "accuracy": 0.9})
    write_head(folder / "sub", "beta.npz", classes=("a", "b"))
    (settings.uploads_dir / "labelmaps").mkdir(parents=True, exist_ok=True)
    (settings.uploads_dir / "labelmaps" / "alpha.txt").write_text("red_square\ngreen_circle\n")
    listing = {e["rel_path"]: e for e in client.get("/clip/classifiers").json()}
    assert set(listing) == {"alpha.npz", "sub/beta.npz"}
    alpha = listing["alpha.npz"]
    assert alpha["classes"] == ["red_square", "green_circle", "__bg_0"] and alpha["embedding_dim"] == 32
    assert alpha["labelmap_guess_rel"] == "alpha.txt" and alpha["clip_model"] == "ViT-B/32"
    assert alpha["path"] == str(folder / "alpha.npz")
    download = client.get("/clip/classifiers/download", params={"rel_path": "alpha.npz"})
    assert download.status_code == 200 and download.content == (folder / "alpha.npz").read_bytes()
    bundle = client.get("/clip/classifiers/download_zip", params={"rel_path": "alpha.npz"})
    names = zipfile.ZipFile(io.BytesIO(bundle.content)).namelist()
    assert names == ["alpha.npz", "alpha.labelmap.txt", "alpha.meta.json"]
    renamed = client.post("/clip/classifiers/rename", data={"rel_path": "sub/beta.npz", "new_name": "alpha"}).json()
    assert renamed["status"] == "renamed" and renamed["new_rel_path"] == "sub/alpha.npz"
    clash = client.post("/clip/classifiers/rename", data={"rel_path": "sub/alpha.npz", "new_name": "gamma.npz"}).json()
    assert clash["new_name"] == "gamma.npz"
    write_head(folder, "gamma.npz")
    taken = client.post("/clip/classifiers/rename", data={"rel_path": "alpha.npz", "new_name": "gamma"}).json()
    assert taken["new_rel_path"] == "gamma_1.npz"
    same = client.post("/clip/classifiers/rename", data={"rel_path": "gamma.npz", "new_name": "gamma.npz"}).json()
    assert same["status"] == "unchanged"
    assert client.delete("/clip/classifiers", params={"rel_path": "gamma_1.npz"}).json() == {
        "status": "deleted",
        "rel_path": "gamma_1.npz",
    }
    assert _files(folder) == ["gamma.npz", "sub", "sub/gamma.npz"]


def test_classifier_paths_and_names_are_checked(client: TestClient, settings: Settings) -> None:
    folder = settings.uploads_dir / "classifiers"
    write_head(folder, "alpha.npz")
    (folder / "old.pkl").write_bytes(b"x")
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "/clip/classifiers/download", {"rel_path": "missing.npz"}, 404, "classifier_not_found"),
        ("GET", "/clip/classifiers/download", {"rel_path": "../tator.sqlite3"}, 400, "classifier_path_not_allowed"),
        ("GET", "/clip/classifiers/download", {"rel_path": "/etc/passwd"}, 400, "classifier_path_not_allowed"),
        ("GET", "/clip/classifiers/download", {"rel_path": "old.pkl"}, 400, "classifier_extension_not_allowed"),
        ("DELETE", "/clip/classifiers", {"rel_path": "nope.npz"}, 404, "classifier_not_found"),
    ]
    for method, path, params, status, code in cases:
        response = client.request(method, path, params=params)
        assert (response.status_code, response.json()["detail"]) == (status, code), (path, params, response.text)
    renames = [
        ({"rel_path": "alpha.npz", "new_name": ""}, "classifier_new_name_required"),
        ({"rel_path": "alpha.npz", "new_name": "bad name!"}, "classifier_new_name_invalid"),
        ({"rel_path": "alpha.npz", "new_name": "x.pkl"}, "classifier_extension_not_allowed"),
        ({"rel_path": "alpha.npz", "new_name": "../x"}, "classifier_new_name_invalid"),  # not renamed to "x"
        ({"rel_path": "alpha.npz", "new_name": "sub/x.npz"}, "classifier_new_name_invalid"),
    ]
    for form, code in renames:
        response = client.post("/clip/classifiers/rename", data=form)
        assert (response.status_code, response.json()["detail"]) == (400, code), response.text
    (folder / "broken.npz").write_bytes(b"junk")
    broken = next(e for e in client.get("/clip/classifiers").json() if e["rel_path"] == "broken.npz")
    assert "error" in broken and broken["classes"] == []


def test_labelmaps_list_download_delete(client: TestClient, settings: Settings) -> None:
    labelmaps = settings.uploads_dir / "labelmaps"
    labelmaps.mkdir(parents=True, exist_ok=True)
    (labelmaps / "a.txt").write_text("cat\ndog\n")
    (labelmaps / "empty.txt").write_text("\n")
    os.utime(labelmaps / "a.txt", (1, 1))
    (labelmaps / "b.txt").write_text("bird\n")
    (settings.uploads_dir / "classifiers").mkdir(parents=True, exist_ok=True)
    (settings.uploads_dir / "classifiers" / "side.txt").write_text("x\n")
    listing = client.get("/clip/labelmaps").json()
    assert [e["rel_path"] for e in listing] == ["b.txt", "a.txt"]
    expected = {"filename": "a.txt", "path": str(labelmaps / "a.txt"), "rel_path": "a.txt", "root": "labelmaps"}
    assert listing[1] | {"modified_at": 0} == expected | {"n_classes": 2, "classes": ["cat", "dog"], "modified_at": 0}
    assert client.get("/clip/labelmaps/download", params={"rel_path": "a.txt"}).text == "cat\ndog\n"
    side = client.get("/clip/labelmaps/download", params={"rel_path": "side.txt", "root": "classifiers"})
    assert side.text == "x\n"
    deleted = client.delete("/clip/labelmaps", params={"rel_path": "b.txt"}).json()
    assert deleted == {"status": "deleted", "rel_path": "b.txt", "root": "labelmaps"}
    for params, status, code in [
        ({"rel_path": "b.txt"}, 404, "labelmap_not_found"),
        ({"rel_path": "a.pkl"}, 400, "labelmap_extension_not_allowed"),
        ({"rel_path": "/etc/hosts.txt"}, 400, "labelmap_path_not_allowed"),
    ]:
        response = client.delete("/clip/labelmaps", params=params)
        assert (response.status_code, response.json()["detail"]) == (status, code), response.text


class _WritesAFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.target), "w"))


def test_upload_refuses_a_pickle_that_would_write_a_file(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "written_by_pickle.txt"
    payload = pickle.dumps(_WritesAFile(target))
    for name in ("evil.pkl", "evil.joblib"):
        response = client.post("/fs/upload_classifier", files={"file": (name, payload)})
        assert (response.status_code, response.json()["detail"]) == (400, "classifier_format_unsafe"), response.text
    assert not target.exists()
    assert _files(settings.uploads_dir / "classifiers") == []
    assert client.get("/clip/classifiers").json() == []


def test_upload_accepts_safe_heads_and_converts_plain_logreg(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    folder = settings.uploads_dir / "classifiers"
    head = write_head(tmp_path, "mine.npz")
    saved = client.post("/fs/upload_classifier", files={"file": ("mine.npz", head.read_bytes())}).json()
    assert saved["path"] == str(folder / "mine.npz") and saved["converted_from"] is None
    x = np.random.default_rng(0).normal(size=(40, 8))
    model = LogisticRegression().fit(x, ["cat", "dog"] * 20)
    joblib.dump(model, tmp_path / "legacy.joblib")
    converted = client.post(
        "/fs/upload_classifier", files={"file": ("legacy.joblib", (tmp_path / "legacy.joblib").read_bytes())}
    )
    assert converted.status_code == 200, converted.text
    assert converted.json()["path"] == str(folder / "legacy.npz") and converted.json()["converted_from"] == ".joblib"
    assert np.allclose(load_head(folder / "legacy.npz").predict_proba(x), model.predict_proba(x), atol=1e-5)
    again = client.post("/fs/upload_classifier", files={"file": ("mine.npz", head.read_bytes())})
    assert (again.status_code, again.json()["detail"]) == (409, "upload_exists")
    refusals = [
        ("x.exe", b"1", "upload_extension_not_allowed"),
        ("bad.npz", b"junk", "classifier_load_failed"),
        ("bad name!.npz", b"1", "upload_filename_invalid"),
        ("../../escaped.npz", head.read_bytes(), "upload_filename_invalid"),  # refused, not stored as escaped.npz
        ("sub\\mine2.npz", head.read_bytes(), "upload_filename_invalid"),
    ]
    for name, data, code in refusals:
        response = client.post("/fs/upload_classifier", files={"file": (name, data)})
        assert (response.status_code, response.json()["detail"]) == (400, code), response.text
    assert _files(folder) == ["legacy.npz", "mine.npz"]


def test_upload_is_bounded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", device="cpu", max_upload_bytes=1000, log_level="WARNING")
    with TestClient(create_app(settings, loaders={})) as client:
        response = client.post("/fs/upload_classifier", files={"file": ("big.npz", b"\0" * 5000)})
        assert response.status_code == 413, response.text
        assert _files(settings.uploads_dir / "classifiers") == []


def test_nul_and_over_long_paths_are_400(client: TestClient, settings: Settings) -> None:
    folder = settings.uploads_dir / "classifiers"
    write_head(folder, "alpha.npz")
    (settings.uploads_dir / "labelmaps").mkdir(parents=True, exist_ok=True)
    for value in (
        str(folder / "alpha\x00.npz"),
        "alpha\x00.npz",
        "n" * 300 + ".npz",
        str(folder / ("n" * 300 + ".npz")),
    ):
        for response in (
            client.get("/clip/classifiers/download", params={"rel_path": value}),
            client.post("/clip/active_model", json={"classifier_path": value}),
            client.get("/clip/labelmaps/download", params={"rel_path": value.replace(".npz", ".txt")}),
        ):
            assert response.status_code == 400, (value[:20], response.text)
            assert response.json()["detail"] in ("classifier_path_not_allowed", "labelmap_path_not_allowed")
    assert client.get("/healthz").status_code == 200

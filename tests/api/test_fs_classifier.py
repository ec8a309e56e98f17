"""`/fs/upload_classifier` against hostile legacy heads: refused with a code, the server stays up, and staging
files a killed server left behind are swept at start-up."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings
from tests.clip.hostile_pickles import corpus
from tests.fakes import FakeLoader


def test_every_hostile_pickle_is_a_400_and_the_server_stays_up(client: TestClient, settings: Settings) -> None:
    folder = settings.uploads_dir / "classifiers"
    for name, payload in corpus().items():
        response = client.post("/fs/upload_classifier", files={"file": (f"{name}.pkl", payload)})
        assert (response.status_code, response.json()["detail"]) == (400, "classifier_format_unsafe"), name
        assert client.get("/healthz").status_code == 200, name
    assert sorted(p.name for p in folder.iterdir()) == []  # no staging file, no half-converted head


def test_start_up_sweeps_stale_staging_files(settings: Settings, fake_loader: FakeLoader) -> None:
    classifiers = settings.uploads_dir / "classifiers"
    labelmaps = settings.uploads_dir / "labelmaps"
    for folder in (classifiers, labelmaps):
        folder.mkdir(parents=True, exist_ok=True)
    stale = [classifiers / ".incoming-dead", classifiers / ".converted-dead.npz", labelmaps / ".incoming-dead"]
    for path in stale:
        path.write_bytes(b"left by a killed server")
    (classifiers / "kept.npz").write_bytes(b"a user's file")
    with TestClient(create_app(settings, loaders={"fake": fake_loader})) as client:
        assert client.get("/healthz").status_code == 200
    assert not any(path.exists() for path in stale)
    assert (classifiers / "kept.npz").exists()

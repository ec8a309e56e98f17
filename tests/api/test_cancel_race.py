"""Issue 17 finding 10: a cancel that is accepted holds. Cancels fired at random moments of many tiny
classifier-head trainings: every accepted cancel ends `cancelled` with nothing published, every refused
one (409, too late) ends `succeeded` with its head published; there is no third story."""

from __future__ import annotations

import random
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tator.app import create_app
from tests.clip.support import CLIP, embed_settings, shapes_zip, tiny_embedders, upload_dataset, wait_job

__all__ = ["tiny_embedders"]  # the session fixture, imported for pytest

ROUNDS = 10


def test_every_accepted_cancel_ends_cancelled_and_publishes_nothing(
    tmp_path: Path, tiny_embedders: dict[str, Path]
) -> None:
    rng = random.Random(0)
    outcomes: list[tuple[int, str, str]] = []
    with TestClient(create_app(embed_settings(tmp_path, tiny_embedders))) as client:
        archive, _ = shapes_zip(tmp_path, n_train=8, n_val=4)
        upload_dataset(client, archive)
        wait_job(client, client.post("/clip/train", data={"dataset_id": "shapes", **CLIP}).json()["job_id"])
        for index in range(ROUNDS):  # the embedding cache is warm: each job is short
            form = {"dataset_id": "shapes", **CLIP, "model_filename": f"race{index}", "reuse_embeddings": "true"}
            job_id = client.post("/clip/train", data=form).json()["job_id"]
            _wait_progress(client, job_id, rng.choice([0.0, 0.5, 0.9, 0.95, 0.97, 1.0]))
            answer = client.post(f"/clip/train/{job_id}/cancel")
            final = wait_job(client, job_id)
            published = {c["rel_path"] for c in client.get("/clip/classifiers").json()}
            was_published = f"race{index}.npz" in published
            if answer.status_code == 200:
                assert final["status"] == "cancelled" and not was_published, (index, answer.json(), final["status"])
            else:
                assert (answer.status_code, answer.json()["detail"]) == (409, "job_not_cancellable")
                assert final["status"] == "succeeded" and was_published, (index, final["status"])
            outcomes.append((answer.status_code, final["status"], "published" if was_published else "-"))
    print(f"\ncancel race outcomes: {outcomes}")


def _wait_progress(client: TestClient, job_id: str, at_least: float) -> None:
    """Until the job's progress reaches `at_least` (0.97: publishing) or it ends: spreads the cancels over
    the whole life of a job, its last moments included, whatever the machine's speed."""
    while True:
        body = client.get(f"/clip/train/{job_id}").json()
        if body["progress"] >= at_least or body["status"] in ("succeeded", "failed", "cancelled"):
            return
        time.sleep(0.005)

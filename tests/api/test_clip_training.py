"""`/clip/train` end to end on the tiny zoo: quality against the majority baseline, the embedding cache,
uploads, preflight refusals, cancellation, and the published head used by `/predict_base64`."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tator.app import create_app, default_loaders
from tator.runtime.loaders import LoadedModel, ModelSpec
from tator.zoo.synthetic import make_detection_dataset
from tests.clip.support import (
    CLIP,
    DINO,
    embed_settings,
    png_b64,
    shapes_zip,
    tiny_embedders,
    upload_dataset,
    wait_job,
)

pytestmark = pytest.mark.executor_matrix  # `make test-ray` runs these on a Ray cluster too
__all__ = ["tiny_embedders"]  # the session fixture, imported for pytest


@pytest.fixture
def clip_client(tmp_path: Path, tiny_embedders: dict[str, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(embed_settings(tmp_path, tiny_embedders))) as client:
        yield client


def train(client: TestClient, **form: str) -> dict[str, Any]:
    started = client.post("/clip/train", data={"dataset_id": "shapes", **form})
    assert started.status_code == 202, started.text
    body = wait_job(client, started.json()["job_id"])
    assert body["status"] == "succeeded", body["error"]
    return dict(body["result"])


def test_heads_beat_the_majority_baseline_and_reuse_the_cache(clip_client: TestClient, tmp_path: Path) -> None:
    client = clip_client
    archive, _ = shapes_zip(tmp_path)
    upload_dataset(client, archive)
    first = train(client, **CLIP)
    second = train(client, **CLIP, model_filename="again.pkl")
    dino = train(client, **DINO)
    mlp = train(client, **CLIP, classifier_type="mlp", mlp_epochs="60")
    figures = {}
    for name, result in (("clip_logreg", first), ("dinov3_logreg", dino), ("clip_mlp", mlp)):
        assert result["evaluated_on"] == "held_out_images" and result["split_mode"] == "by_image"
        assert result["accuracy"] >= result["majority_baseline_accuracy"] + 0.3, (name, result["accuracy"])
        figures[name] = (round(result["accuracy"], 3), round(result["majority_baseline_accuracy"], 3))
    assert first["cache"]["hits"] == 0 and first["cache"]["crops_embedded"] > 0
    assert second["cache"]["misses"] == 0 and second["cache"]["crops_embedded"] == 0
    assert second["cache"]["crops_from_cache"] == first["cache"]["crops_embedded"]
    assert second["accuracy"] == first["accuracy"] and second["model_path"].endswith("again.npz")
    cold, warm = first["timings"]["embed_s"], second["timings"]["embed_s"]
    speedup, crops = cold / max(warm, 1e-6), first["cache"]["crops_embedded"]
    print(f"\nheads (accuracy, baseline) {figures}; embed {cold:.3f}s -> {warm:.3f}s (x{speedup:.1f}), {crops} crops")
    wanted = {"per_class_metrics", "confusion_matrix", "label_order", "classification_report", "iterations_run"}
    assert set(first) >= wanted | {"converged", "convergence_trace", "model_path", "labelmap_path"}
    assert first["label_order"][-2:] == ["__bg_0", "__bg_1"] and len(first["confusion_matrix"]) == 5
    job = client.get("/clip/train").json()
    assert len(job) == 4 and {"epoch", "train_loss"} <= set(job[0]["metrics"][0])


def test_published_head_is_listed_activated_and_classifies_new_images(clip_client: TestClient, tmp_path: Path) -> None:
    client = clip_client
    archive, ds = shapes_zip(tmp_path)
    upload_dataset(client, archive)
    result = train(client, **CLIP, model_filename="shapes_head")
    listing = {e["rel_path"]: e for e in client.get("/clip/classifiers").json()}
    assert listing["shapes_head.npz"]["classes"] == [*ds.labelmap, "__bg_0", "__bg_1"]
    assert listing["shapes_head.npz"]["labelmap_guess_rel"] == "shapes_head.txt"
    assert any(e["rel_path"] == "shapes_head.txt" for e in client.get("/clip/labelmaps").json())
    active = client.post("/clip/active_model", json={"classifier_path": result["model_path"]})
    assert active.status_code == 200 and active.json()["labelmap_entries"] == list(ds.labelmap), active.text
    unseen = make_detection_dataset(tmp_path / "unseen", n_train=6, n_val=0, image_size=128, seed=99)
    truth, guesses = [], []
    for image in unseen.images:
        b64 = png_b64(Image.open(image.path))
        for box in image.boxes:
            body = client.post(
                "/predict_base64", json={"image_base64": b64, "bbox_xyxy": list(box.box), "background_guard": False}
            ).json()
            truth.append(unseen.labelmap[box.class_id])
            guesses.append(body["prediction"])
    accuracy = sum(t == g for t, g in zip(truth, guesses, strict=True)) / len(truth)
    baseline = Counter(truth).most_common(1)[0][1] / len(truth)
    print(f"\n/predict_base64 on {len(truth)} unseen boxes: accuracy {accuracy:.3f} vs majority {baseline:.3f}")
    assert accuracy >= baseline + 0.2


def test_training_from_a_multipart_upload(clip_client: TestClient, tmp_path: Path) -> None:
    ds = make_detection_dataset(tmp_path / "up", n_train=10, n_val=0, image_size=96, seed=3)
    files = [("images", (i.path.name, i.path.read_bytes(), "image/png")) for i in ds.images]
    files += [("labels", (i.label_path.name, i.label_path.read_bytes(), "text/plain")) for i in ds.images]
    files.append(("labelmap", ("labelmap.txt", "\n".join(ds.labelmap).encode(), "text/plain")))
    started = clip_client.post("/clip/train", data={**CLIP, "test_size": "0.3", "extra_ui_field": "x"}, files=files)
    assert started.status_code == 202, started.text
    body = wait_job(clip_client, started.json()["job_id"])
    assert body["status"] == "succeeded", body["error"]
    assert body["config"]["dataset_source"] == "upload" and body["result"]["samples_train"] > 0
    staging = Path(body["result"]["model_path"]).parents[1] / "clip_dataset_uploads" / "staging"
    assert not any(staging.iterdir())


def test_preflight_refusals_queue_nothing(clip_client: TestClient, tmp_path: Path) -> None:
    client = clip_client
    archive, _ = shapes_zip(tmp_path, n_train=4, n_val=0)
    upload_dataset(client, archive)
    one = make_detection_dataset(tmp_path / "one", n_train=2, n_val=0, image_size=64, seed=1)
    one_files = [("images", (one.images[0].path.name, one.images[0].path.read_bytes()))]
    cases: list[tuple[dict[str, str], list[Any], int, str]] = [
        ({"images_path_native": "/data/images"}, [], 400, "dataset_paths_unresolved"),
        ({"dataset_id": "missing"}, [], 404, "dataset_not_found"),
        ({"dataset_id": "../shapes"}, [], 400, "invalid_id"),
        ({"dataset_id": "shapes", "encoder_type": "radio"}, [], 400, "clip_encoder_type_unsupported"),
        ({"dataset_id": "shapes", "clip_model_name": "/etc"}, [], 400, "clip_model_not_allowed"),
        ({"dataset_id": "shapes", "min_per_class": "1000", "bg_class_count": "0"}, [], 400, "clip_too_few_classes"),
        ({}, [], 400, "images_required"),
        ({}, one_files, 400, "labels_required"),
        ({"dataset_id": "shapes", "classifier_type": "svm"}, [], 422, ""),
    ]
    for form, files, status, code in cases:
        response = client.post("/clip/train", data=form, files=files or None)
        assert response.status_code == status, (form, response.text)
        if code:
            assert response.json()["detail"] == code, (form, response.text)
    as_json = client.post("/clip/train", json={"dataset_id": "missing"})
    assert (as_json.status_code, as_json.json()["detail"]) == (404, "dataset_not_found")
    broken = client.post("/clip/train", content=b"{oops", headers={"content-type": "application/json"})
    assert broken.status_code == 422, broken.text
    assert client.get("/clip/train").json() == []
    missing = client.get("/clip/train/nope")
    assert (missing.status_code, missing.json()["detail"]) == (404, "job_not_found")


def test_cancel_stops_a_running_job_and_publishes_nothing(
    tmp_path: Path, tiny_embedders: dict[str, Path], job_executor: str
) -> None:
    if job_executor != "thread":
        pytest.skip(
            "gates the backbone loader with an event of this process; tests/api/test_cancel_race.py covers cancels"
        )
    release = threading.Event()
    real = default_loaders()["clip"]

    def slow_clip(spec: ModelSpec, device: str) -> LoadedModel:
        release.wait(30)
        return real(spec, device)

    settings = embed_settings(tmp_path, tiny_embedders)
    with TestClient(create_app(settings, loaders={**default_loaders(), "clip": slow_clip})) as client:
        archive, _ = shapes_zip(tmp_path, n_train=4, n_val=0)
        upload_dataset(client, archive)
        job_id = client.post("/clip/train", data={"dataset_id": "shapes", **CLIP}).json()["job_id"]
        deadline = time.monotonic() + 30
        while client.get(f"/clip/train/{job_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        cancelled = client.post(f"/clip/train/{job_id}/cancel").json()
        assert cancelled == {"job_id": job_id, "status": "cancelling"}
        release.set()
        assert wait_job(client, job_id)["status"] == "cancelled"
        again = client.post(f"/clip/train/{job_id}/cancel")
        assert (again.status_code, again.json()["detail"]) == (409, "job_not_cancellable")
        assert client.get("/clip/classifiers").json() == []

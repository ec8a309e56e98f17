"""LoRA fine-tuning end to end on the tiny Qwen3-VL: the loss falls, the adapter is listed, activated and used."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from tator.app import create_app
from tator.zoo.synthetic import make_detection_dataset
from tests.qwen.support import png_b64, qwen_settings

PIXELS = {"qwen_min_pixels": 64 * 64, "qwen_max_pixels": 96 * 96}


def _image(box: tuple[int, int, int, int]) -> Image.Image:
    image = Image.new("RGB", (96, 96), (240, 240, 240))
    ImageDraw.Draw(image).rectangle(box, fill=(200, 20, 20))
    return image


def _upload(client: TestClient) -> str:
    job = client.post("/qwen/dataset/init", data={"run_name": "squares"}).json()["job_id"]
    boxes = {"train": [(8, 8, 40, 40), (50, 10, 90, 50)], "val": [(20, 50, 60, 90)]}
    for split, items in boxes.items():
        for index, box in enumerate(items):
            buffer = io.BytesIO()
            _image(box).save(buffer, format="PNG")
            line = json.dumps({"detections": [{"label": "square", "bbox": list(box)}]})
            form = {"job_id": job, "split": split, "image_name": f"{split}{index}.png", "annotation_line": line}
            client.post("/qwen/dataset/chunk", data=form, files={"file": ("x.png", buffer.getvalue(), "image/png")})
    return str(client.post("/qwen/dataset/finalize", data={"job_id": job}).json()["id"])


def test_lora_training_to_activation(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    settings = qwen_settings(tmp_path, tiny_zoo, **PIXELS)
    make_detection_dataset(settings.uploads_dir / "datasets" / "yolo_only", n_train=2, n_val=1, image_size=64)
    with TestClient(create_app(settings)) as client:
        refusals = [
            ({"dataset_id": "yolo_only"}, 400, "qwen_dataset_not_ready"),
            ({}, 400, "dataset_id_required"),
            ({"dataset_id": "nope"}, 404, "dataset_not_found"),
            ({"dataset_id": "x", "training_mode": "trl_qlora"}, 400, "qwen_training_mode_unsupported"),
        ]
        for body, status, code in refusals:
            response = client.post("/qwen/train/jobs", json=body)
            assert (response.status_code, response.json()["detail"]) == (status, code), body
        dataset_id = _upload(client)
        image = png_b64(_image((8, 8, 40, 40)))
        base = client.post("/qwen/infer", json={"image_base64": image, "item_list": "square", "max_new_tokens": 12})
        body = {"dataset_id": dataset_id, "run_name": "tuned squares", "max_epochs": 16, "lr": 0.01,
                "accumulate_grad_batches": 1, "lora_rank": 8,
                "lora_target_modules": "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"}  # fmt: skip
        started = client.post("/qwen/train/jobs", json=body)
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        assert client.get("/qwen/train/cache_size").json()["bytes"] > 0
        record = client.app.state.tator.jobs.wait(job_id, 600)  # type: ignore[attr-defined]
        assert record.status.value == "succeeded", record.error
        job = client.get(f"/qwen/train/jobs/{job_id}").json()
        losses = [row["train_loss"] for row in job["metrics"] if "train_loss" in row]
        assert len(losses) == 32 and sum(losses[-3:]) < 0.85 * sum(losses[:3]), losses
        assert [j["job_id"] for j in client.get("/qwen/train/jobs").json()] == [job_id]
        assert client.get("/qwen/train/jobs/nope").json()["detail"] == "qwen_job_not_found"
        assert client.post(f"/qwen/train/jobs/{job_id}/cancel").status_code == 409
        listed = {m["id"]: m for m in client.get("/qwen/models").json()["models"]}
        tuned = listed[job_id]
        assert tuned["type"] == "finetune" and tuned["label"] == "tuned squares" and tuned["available"]
        assert tuned["metadata"]["dataset_id"] == dataset_id and tuned["metadata"]["final_loss"] < losses[0]
        assert client.post("/qwen/models/activate", json={"model_id": job_id}).json()["active"] == job_id
        after = client.post("/qwen/infer", json={"image_base64": image, "item_list": "square", "max_new_tokens": 12})
        assert after.status_code == 200 and after.json()["model_id"] == job_id
        assert after.json()["raw_response"] != base.json()["raw_response"]  # the adapter changes the output
        purged = client.post("/qwen/train/cache/purge").json()
        assert purged["status"] == "purged" and purged["deleted_bytes"] > 0
        assert client.get("/qwen/train/cache_size").json()["bytes"] == 0


def test_cancelled_training_is_never_listed(tmp_path: Path, tiny_zoo: dict[str, Path]) -> None:
    with TestClient(create_app(qwen_settings(tmp_path, tiny_zoo, **PIXELS))) as client:
        dataset_id = _upload(client)
        body = {"dataset_id": dataset_id, "max_epochs": 1000, "accumulate_grad_batches": 1}
        job_id = client.post("/qwen/train/jobs", json=body).json()["job_id"]
        jobs = client.app.state.tator.jobs  # type: ignore[attr-defined]
        deadline = time.monotonic() + 300
        while not jobs.get(job_id).metrics.get("train_loss") and time.monotonic() < deadline:
            time.sleep(0.2)
        blocked = client.post("/qwen/train/cache/purge")
        assert (blocked.status_code, blocked.json()["detail"]) == (409, "qwen_cache_purge_blocked_active_jobs")
        assert client.post(f"/qwen/train/jobs/{job_id}/cancel").json()["status"] == "cancelling"
        record = jobs.wait(job_id, 120)
        assert record.status.value == "cancelled" and len(record.metrics["train_loss"]) < 2000
        assert job_id not in {m["id"] for m in client.get("/qwen/models").json()["models"]}

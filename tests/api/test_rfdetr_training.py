"""RF-DETR training over HTTP on the tiny zoo: a COCO-staged run trains, is activated and predicts."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tator.settings import Settings
from tests.api.test_detectors import image_b64
from tests.api.test_yolo_training import tiny_client, upload, wait_job  # noqa: F401 (fixture)
from tests.datasets.zips import yolo_zip


def test_preflight_refusals(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path)
    upload(client, archive)
    cases = [
        ({"dataset_id": "shapes"}, 400, "rfdetr_tos_required"),
        ({"dataset_id": "nope", "accept_tos": True}, 404, "dataset_not_found"),
        ({"dataset_id": "shapes", "accept_tos": True, "task": "segment"}, 400, "rfdetr_seg_requires_polygons"),
        ({"dataset_id": "shapes", "accept_tos": True, "variant": "rfdetr-huge"}, 400, "rfdetr_variant_unknown"),
        ({"dataset_id": "shapes", "accept_tos": True, "devices": [0]}, 400, "rfdetr_cuda_devices_unavailable"),
        ({"dataset_id": "shapes", "accept_tos": True, "devices": [0, 1]}, 400, "training_option_unsupported"),
        (
            {"dataset_id": "shapes", "accept_tos": True, "pretrain_weights": "/w.pth"},
            400,
            "training_option_unsupported",
        ),
        ({"dataset_id": "shapes", "accept_tos": True, "augmentations": {"hsv": 1}}, 400, "training_option_unsupported"),
    ]
    for body, status, code in cases:
        response = client.post("/rfdetr/train/jobs", json=body)
        assert (response.status_code, response.json().get("detail")) == (status, code), (body, response.text)
    assert client.get("/rfdetr/train/jobs").json() == []
    assert not list((settings.uploads_dir / "rfdetr_runs").glob("*"))


def test_rfdetr_trains_end_to_end_and_is_activated(tiny_client: TestClient, tmp_path: Path) -> None:  # noqa: F811
    client = tiny_client
    archive, ds = yolo_zip(tmp_path)
    upload(client, archive)  # a YOLO dataset: staged as COCO in the run dir, never "dataset_not_ready"
    started = client.post(
        "/rfdetr/train/jobs",
        json={
            "dataset_id": "shapes",
            "accept_tos": True,
            "epochs": 1,
            "batch": 2,
            "resolution": 128,
        },
    )
    assert started.status_code == 200, started.text
    job = wait_job(client, f"/rfdetr/train/jobs/{started.json()['job_id']}", timeout=600)
    assert job["status"] == "succeeded", job["error"]
    assert job["progress"] == 1.0 and job["metrics"] and "val/mAP_50" in job["metrics"][-1]
    run_dir = Path(job["result"]["run_dir"])
    assert (run_dir / "checkpoint_best_total.pth").is_file() and not (run_dir / "dataset").exists()
    source = Path(client.app.state.tator.layout.root("dataset_registry")) / "shapes"  # type: ignore[attr-defined]
    assert not list(source.rglob("_annotations.coco.json"))  # the source dataset was not written into
    active = client.get("/rfdetr/active").json()
    assert active["run_id"] == job["job_id"] and active["labelmap"] == list(ds.labelmap)
    body = client.post("/rfdetr/predict_full", json={"image_base64": image_b64(96, 96), "conf": 0.0}).json()
    assert body["labelmap"] == list(ds.labelmap)


def test_train_options_reach_the_rfdetr_trainer(tmp_path: Path) -> None:
    from tator.rfdetr.train import RfdetrTrainPlan, RfdetrTrainRequest, train_options

    request = RfdetrTrainRequest(dataset_id="d", workers=2, multi_scale=False, expanded_scales=False, lr=1e-4)
    plan = RfdetrTrainPlan(request=request, dataset_id="d", dataset_path=str(tmp_path / "ds"), dataset_label="d",
                           labelmap=["a"], model_class="RFDETRNano", pretrain_weights=None)  # fmt: skip
    options = train_options(plan, tmp_path / "ds", tmp_path, "cpu")
    assert (options["num_workers"], options["multi_scale"], options["expanded_scales"]) == (2, False, False)
    assert options["lr"] == 1e-4 and options["class_names"] == ["a"]
    defaults = train_options(
        plan.model_copy(update={"request": RfdetrTrainRequest(dataset_id="d")}), tmp_path, tmp_path, "cpu"
    )
    assert "multi_scale" not in defaults and "expanded_scales" not in defaults and defaults["num_workers"] == 0

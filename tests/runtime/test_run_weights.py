"""Run weights are checked against the size and SHA-256 that run.json recorded: a cut or altered file is
no artifact, cannot be activated or downloaded, and an active run whose file shrank is not predicted with."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fastapi.testclient import TestClient

from tator.errors import YoloRunNotFound
from tator.storage.runs import RunStore
from tests.api.test_detectors import image_b64


def _run(root: Path, run_id: str, data: bytes, *, recorded: bytes | None, status: str = "succeeded") -> Path:
    run = root / run_id
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(data)
    record: dict[str, object] = {"run_id": run_id, "status": status, "labelmap": ["a"]}
    if recorded is not None:
        record["weights"] = {"best.pt": {"bytes": len(recorded), "sha256": hashlib.sha256(recorded).hexdigest()}}
    (run / "run.json").write_text(json.dumps(record))
    return run


def test_cut_or_altered_weights_are_refused(client: TestClient) -> None:
    root = client.app.state.tator.layout.root("yolo_runs")  # type: ignore[attr-defined]
    whole = b"w" * 4096
    _run(root, "whole", whole, recorded=whole)
    _run(root, "cut", whole[:1000], recorded=whole)
    _run(root, "altered", b"x" * 4096, recorded=whole)
    _run(root, "unfinished", whole, recorded=None, status="running")
    _run(root, "legacy", whole, recorded=None)
    flags = {r["run_id"]: r["artifacts"]["best.pt"] for r in client.get("/yolo/runs").json()}
    assert flags == {"whole": True, "cut": False, "altered": True, "unfinished": False, "legacy": True}
    for run_id in ("cut", "altered", "unfinished"):
        refused = client.post("/yolo/active", json={"run_id": run_id})
        assert (refused.status_code, refused.json()["detail"]) == (412, "run_weights_incomplete"), run_id
        assert client.get(f"/yolo/runs/{run_id}/download").json()["detail"] == "run_weights_incomplete"
    for run_id in ("whole", "legacy"):
        assert client.post("/yolo/active", json={"run_id": run_id}).status_code == 200
        assert client.get(f"/yolo/runs/{run_id}/download").status_code == 200
    (root / "legacy" / "best.pt").unlink()
    assert client.get("/yolo/active").json() == {}
    client.post("/yolo/active", json={"run_id": "whole"})
    (root / "whole" / "best.pt").write_bytes(whole[:10])  # shrank under the active selection
    assert client.get("/yolo/active").json() == {}
    predicted = client.post("/yolo/predict_full", json={"image_base64": image_b64(16, 16)})
    assert (predicted.status_code, predicted.json()["detail"]) == (412, "yolo_active_missing_weights")


def test_manifest_records_size_and_digest(tmp_path: Path) -> None:
    store = RunStore(tmp_path, YoloRunNotFound)
    store.write("r", {"status": "running"})
    (tmp_path / "r" / "best.pt").write_bytes(b"abc")
    manifest = store.weights_manifest("r", ("best.pt", "other.pt"))
    assert manifest == {"best.pt": {"bytes": 3, "sha256": hashlib.sha256(b"abc").hexdigest()}}
    store.update("r", status="succeeded", weights=manifest)
    assert store.weights_complete("r", "best.pt", digest=True)
    (tmp_path / "r" / "best.pt").write_bytes(b"abd")
    assert store.weights_complete("r", "best.pt", digest=False) and not store.weights_complete(
        "r", "best.pt", digest=True
    )

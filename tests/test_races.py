"""Issue 17, findings 7, 8, 9 and 11: two clients race against a real server process, many rounds, and
the invariant is checked after every round (no ghost dataset, every 200 download complete, every
selection on an existing file, every connection usable after an error answer)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tator.zoo.synthetic import make_detection_dataset
from tests.api.test_detectors import image_b64
from tests.clip.support import write_head
from tests.datasets.zips import zip_tree
from tests.support.crash import dataset_folders, listed_ids, start, upload
from tests.support.server_process import ServerProcess, start_test_app

ROUNDS = 8


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = start(tmp_path / "data")
    yield process
    process.stop()


def race(base_url: str, *calls: Callable[[httpx.Client], object]) -> list[object]:
    """Run each call on its own client and thread, released together; returns their results in order."""
    gate = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int, call: Callable[[httpx.Client], object], base_url: str) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as http:
            gate.wait()
            try:
                results[index] = call(http)
            except httpx.HTTPError as exc:
                results[index] = exc

    threads = [threading.Thread(target=run, args=(i, c, base_url)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


def _small_zip(tmp_path: Path, images: int) -> Path:
    ds = make_detection_dataset(tmp_path / "src" / "ds", n_train=images, n_val=2, image_size=32, seed=1)
    return zip_tree(ds.root.parent, tmp_path / "ds.zip")


def test_writes_racing_a_delete_never_bring_the_dataset_back(server: ServerProcess, tmp_path: Path) -> None:
    """Finding 7: glossary and caption writes in flight while the dataset is deleted answer 200 (before)
    or 404 (after), never 500, and the deleted dataset never comes back listed or on disk."""
    archive = _small_zip(tmp_path, 4)
    uploads = tmp_path / "data" / "uploads"
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        for round_ in range(ROUNDS):
            dataset_id = f"ghost{round_}"
            assert upload(http, archive, dataset_id=dataset_id).status_code == 200

            def writes(client: httpx.Client, kind: str, ds: str = dataset_id) -> list[int]:
                codes = []
                for n in range(12):
                    if kind == "glossary":
                        reply = client.post(f"/datasets/{ds}/glossary", json={"glossary": f"term {n}"})
                    else:
                        reply = client.post(f"/datasets/{ds}/text_labels/train_0000.png", json={"caption": f"c{n}"})
                    codes.append(reply.status_code)
                return codes

            def delete(client: httpx.Client, ds: str = dataset_id, pause: float = 0.01 * (round_ % 4)) -> int:
                time.sleep(pause)
                return client.delete(f"/datasets/{ds}").status_code

            glossary, captions, deleted = race(
                server.base_url, lambda c: writes(c, "glossary"), lambda c: writes(c, "caption"), delete
            )
            assert deleted == 200
            assert isinstance(glossary, list) and isinstance(captions, list)
            assert set(glossary) | set(captions) <= {200, 404}, (glossary, captions)
            assert dataset_id not in listed_ids(http) and not (uploads / "datasets" / dataset_id).exists()
            assert dataset_folders(uploads) == set(), "a ghost folder came back"
        trashed = [item["dataset_id"] for item in http.get("/datasets/trash").json()["items"]]
        assert sorted(trashed) == sorted(f"ghost{r}" for r in range(ROUNDS))


def test_a_download_racing_a_delete_is_whole_or_fails(server: ServerProcess, tmp_path: Path) -> None:
    """Finding 8: every download that answers 200 and ends cleanly holds every file; a delete that wins
    makes the download fail (a broken stream or 404), never a short zip. `/check` answers 200 or 404."""
    archive = _small_zip(tmp_path, 150)
    with zipfile.ZipFile(archive) as zf:
        expected = len([n for n in zf.namelist() if not n.endswith("/")]) + 1  # + dataset.json
    outcomes: dict[str, int] = {"whole": 0, "failed": 0, "404": 0}
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert upload(http, archive, dataset_id="dl").status_code == 200
        for round_ in range(ROUNDS):

            def download(client: httpx.Client) -> tuple[int, bytes]:
                reply = client.get("/datasets/dl/download")
                return reply.status_code, reply.content

            def delete(client: httpx.Client, pause: float = 0.005 * round_) -> dict[str, str]:
                time.sleep(pause)
                return dict(client.delete("/datasets/dl").json())

            got, check, gone = race(
                server.base_url, download, lambda c: c.get("/datasets/dl/check").status_code, delete
            )
            assert check in (200, 404), check
            if isinstance(got, httpx.HTTPError):
                outcomes["failed"] += 1
            else:
                assert isinstance(got, tuple)
                status, body = got
                if status == 404:
                    outcomes["404"] += 1
                else:
                    assert status == 200
                    with zipfile.ZipFile(io.BytesIO(body)) as zf:
                        assert len(zf.namelist()) == expected and zf.testzip() is None
                    outcomes["whole"] += 1
            assert isinstance(gone, dict) and gone["status"] == "deleted"
            restored = http.post(f"/datasets/trash/{gone['trash_id']}/restore")
            assert restored.status_code == 200 and restored.json()["id"] == "dl"
    assert sum(outcomes.values()) == ROUNDS


def _make_run(root: Path, run_id: str) -> None:
    weights = b"weights of " + run_id.encode() * 100
    run = root / run_id
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(weights)
    manifest = {"best.pt": {"bytes": len(weights), "sha256": hashlib.sha256(weights).hexdigest()}}
    record = {
        "run_id": run_id,
        "status": "succeeded",
        "created_at": time.time(),
        "labelmap": ["a"],
        "weights": manifest,
    }
    (run / "run.json").write_text(json.dumps(record))


def test_activation_racing_a_delete_never_leaves_a_dangling_selection(server: ServerProcess, tmp_path: Path) -> None:
    """Finding 9 (YOLO): after activation and delete of one run race, the selection is never on a file
    that is gone: predict answers `yolo_active_missing`, never `yolo_active_missing_weights`."""
    runs = tmp_path / "data" / "uploads" / "yolo_runs"
    image = image_b64(16, 16)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        for round_ in range(ROUNDS * 2):
            run_id = f"r{round_}"
            _make_run(runs, run_id)
            activated, deleted = race(
                server.base_url,
                lambda c, r=run_id: c.post("/yolo/active", json={"run_id": r}).status_code,
                lambda c, r=run_id: c.delete(f"/yolo/runs/{r}").status_code,
            )
            assert deleted == 200 and activated in (200, 404), (activated, deleted)
            predicted = http.post("/yolo/predict_full", json={"image_base64": image})
            assert (predicted.status_code, predicted.json()["detail"]) == (412, "yolo_active_missing")
            assert http.get("/yolo/active").json() == {} and not (runs / run_id).exists()


def test_rename_racing_a_delete_of_a_head_is_one_or_the_other(server: ServerProcess, tmp_path: Path) -> None:
    """Finding 9 (heads): a rename and a delete of one head never answer 500 and never leave a deleted
    head on disk: either the delete won (no file) or the rename did (the new name, delete 404)."""
    folder = tmp_path / "data" / "uploads" / "classifiers"
    for round_ in range(ROUNDS * 2):
        write_head(folder, f"h{round_}.npz")
        renamed, deleted = race(
            server.base_url,
            lambda c, r=round_: (
                c.post("/clip/classifiers/rename", data={"rel_path": f"h{r}.npz", "new_name": f"n{r}"}).status_code
            ),  # fmt: skip
            lambda c, r=round_: c.delete("/clip/classifiers", params={"rel_path": f"h{r}.npz"}).status_code,
        )
        heads = sorted(p.name for p in folder.glob("*.npz"))
        if deleted == 200:
            assert renamed == 404 and heads == [], (renamed, heads)
        else:
            assert (renamed, deleted, heads) == (200, 404, [f"n{round_}.npz"])
            (folder / f"n{round_}.npz").unlink()


def test_an_unexpected_error_leaves_the_keep_alive_connection_usable(tmp_path: Path) -> None:
    """Finding 11: after a 500 (the envelope, with its request id) the next request on the same keep-alive
    connection is answered, every round."""
    server = start_test_app(tmp_path / "data")
    try:
        server.wait_ready(timeout=60)
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for _ in range(ROUNDS * 3):
                crashed = http.get("/test/crash")
                assert crashed.status_code == 500 and crashed.json()["detail"] == "internal_error"
                assert http.get("/healthz").status_code == 200  # the same connection still answers
                assert crashed.json()["request_id"] == crashed.headers["x-request-id"]
    finally:
        server.stop()

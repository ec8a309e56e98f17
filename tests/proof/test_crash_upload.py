"""A real server SIGKILLed while a dataset upload is still arriving (mid request body, and mid chunked upload
session), then restarted on the same data: no partial dataset is listed, the listing agrees with the disk, no
temporary file from before the restart remains, and the same upload then succeeds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.datasets.zips import yolo_zip
from tests.support.crash import dataset_folders, leftovers, listed_ids, restarted, start, upload

BOUNDARY = "tator-crash-boundary"


def _multipart(archive: Path, killed: threading.Event, kill: threading.Event) -> Iterator[bytes]:
    """The upload's body in small pieces; halfway it asks for the kill and then waits for it."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{archive.name}"\r\n'
            "Content-Type: application/zip\r\n\r\n").encode()  # fmt: skip
    data = archive.read_bytes()
    yield head
    half = len(data) // 2
    for start_at in range(0, half, 4096):
        yield data[start_at : min(start_at + 4096, half)]
    time.sleep(0.5)  # let the server take in what was sent
    kill.set()
    killed.wait(30)
    yield data[half:] + f"\r\n--{BOUNDARY}--\r\n".encode()


def _check_clean(http: httpx.Client, uploads: Path, started: float) -> list[str]:
    ids = listed_ids(http)
    on_disk = dataset_folders(uploads) if (uploads / "datasets").is_dir() else set()
    assert sorted(ids) == sorted(on_disk), "GET /datasets disagrees with the disk"
    assert leftovers(uploads, older_than=started) == []
    return ids


def test_kill_while_the_upload_body_arrives_leaves_no_partial_dataset(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    archive, _ = yolo_zip(tmp_path)
    server = start(data_dir)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        assert upload(http, archive, dataset_id="kept").status_code == 200
    kill, killed = threading.Event(), threading.Event()

    def send() -> None:
        headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
        try:
            httpx.post(f"{server.base_url}/datasets/upload", content=_multipart(archive, killed, kill),
                       headers=headers, timeout=60)  # fmt: skip
        except httpx.HTTPError:
            pass  # the server died under it

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    assert kill.wait(60), "the upload never got halfway"
    server.kill_hard()
    killed.set()
    sender.join(30)

    uploads = data_dir / "uploads"
    with restarted(data_dir) as (http, started):
        assert _check_clean(http, uploads, started) == ["kept"]
        assert upload(http, archive).json()["id"] == "shapes"
        assert sorted(_check_clean(http, uploads, started)) == ["kept", "shapes"]


def test_kill_mid_chunked_session_keeps_it_honest(tmp_path: Path) -> None:
    """Half of the chunks were sent when the server died: after the restart the session reports exactly the
    bytes it stored (or is gone), no dataset appears, and resuming or starting over completes the upload."""
    data_dir = tmp_path / "data"
    archive, _ = yolo_zip(tmp_path)
    data = archive.read_bytes()
    chunk = max(1, len(data) // 4)
    server = start(data_dir)
    with httpx.Client(base_url=server.base_url, timeout=60) as http:
        session = http.post("/datasets/upload_session/init", json={"total_bytes": len(data)}).json()["session_id"]
        for offset in range(0, 2 * chunk, chunk):
            sent = http.post(f"/datasets/upload_session/{session}/chunk", content=data[offset : offset + chunk],
                             params={"offset": offset})  # fmt: skip
            assert sent.status_code == 200, sent.text
    server.kill_hard()

    uploads = data_dir / "uploads"
    with restarted(data_dir) as (http, started):
        assert _check_clean(http, uploads, started) == []
        status = http.get(f"/datasets/upload_session/{session}")
        if status.status_code == 200:  # resumable: it says what it holds, and the rest completes it
            received = int(status.json()["offset"])
            assert received == 2 * chunk, status.json()
            for offset in range(received, len(data), chunk):
                sent = http.post(f"/datasets/upload_session/{session}/chunk", content=data[offset : offset + chunk],
                                 params={"offset": offset})  # fmt: skip
                assert sent.status_code == 200, sent.text
            done = http.post(f"/datasets/upload_session/{session}/finalize")
        else:
            assert status.status_code == 404, status.text
            done = upload(http, archive)
        assert done.status_code == 200, done.text
        assert _check_clean(http, uploads, started) == [done.json()["id"]]

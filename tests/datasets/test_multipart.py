from __future__ import annotations

from pathlib import Path

import pytest

from tator.datasets.multipart import MultipartReceiver, boundary_of
from tator.errors import MultipartInvalid, UploadContentTypeInvalid, UploadTooLarge


def _body(payload: bytes, boundary: str = "b0undary") -> bytes:
    return (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="dataset_id"\r\n\r\nmine\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        + payload
        + f"\r\n--{boundary}--\r\n".encode()
    )


@pytest.mark.parametrize("step", [1, 7, 4096, 10**7])
def test_file_part_streams_to_disk_whatever_the_chunking(tmp_path: Path, step: int) -> None:
    payload = bytes(range(256)) * 40 + b"\r\n--b0und"  # boundary-like bytes inside the file
    body = _body(payload)
    receiver = MultipartReceiver(
        boundary_of("multipart/form-data; boundary=b0undary"), tmp_path / "f", max_file_bytes=10**6
    )
    for start in range(0, len(body), step):
        receiver.feed(body[start : start + step])
    form = receiver.finish()
    assert form.fields == {"dataset_id": "mine"} and form.filename == "d.zip" and form.size == len(payload)
    assert (tmp_path / "f").read_bytes() == payload


def test_limits_and_malformed_bodies(tmp_path: Path) -> None:
    with pytest.raises(UploadContentTypeInvalid):
        boundary_of("application/json")
    receiver = MultipartReceiver(b"b0undary", tmp_path / "f", max_file_bytes=100)
    with pytest.raises(UploadTooLarge):
        receiver.feed(_body(b"x" * 101))
    receiver.close()
    short = MultipartReceiver(b"b0undary", tmp_path / "g", max_file_bytes=100)
    short.feed(_body(b"x" * 10)[:-10])
    with pytest.raises(MultipartInvalid):
        short.finish()

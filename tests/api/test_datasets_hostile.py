"""The hostile-input corpus: every case is refused with its own code, nothing is written outside the data
directory, no dataset or staging folder is left behind, and the server keeps answering."""

from __future__ import annotations

import json
import os
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tator.app import create_app
from tator.settings import Settings
from tests.datasets.zips import coco_zip, files_under, png_bytes, qwen_zip, synthetic, zip_entries, zip_tree

MiB = 1024 * 1024
Case = Callable[[Path, TestClient], httpx.Response]


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = Settings(data_dir=tmp_path / "data", device="cpu", log_level="WARNING", max_upload_bytes=2 * MiB)
    with TestClient(create_app(settings, loaders={})) as client:
        yield client, settings


def _post_zip(client: TestClient, archive: Path, name: str | None = None, **data: str) -> httpx.Response:
    with open(archive, "rb") as handle:
        files = {"file": (name or archive.name, handle, "application/zip")}
        return client.post("/datasets/upload", files=files, data=data)


def _upload_entries(entries: list[tuple[str | zipfile.ZipInfo, bytes]], **data: str) -> Case:
    def run(tmp: Path, client: TestClient) -> httpx.Response:
        return _post_zip(client, zip_entries(tmp / "case.zip", entries), **data)

    return run


def _info(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def _yolo_with(
    tmp: Path, label: str | None = None, image: bytes | None = None, labelmap: str | None = "a\nb\nc\n"
) -> Path:
    root = tmp / "yolo"
    for split in ("train",):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        (root / split / "images" / "x.png").write_bytes(image if image is not None else png_bytes())
        (root / split / "labels" / "x.txt").write_text(label if label is not None else "0 0.5 0.5 0.2 0.2\n")
    if labelmap is not None:
        (root / "labelmap.txt").write_text(labelmap)
    return zip_tree(root, tmp / "case.zip")


def _yolo_case(**kwargs: Any) -> Case:
    def run(tmp: Path, client: TestClient) -> httpx.Response:
        return _post_zip(client, _yolo_with(tmp, **kwargs))

    return run


def _huge_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def _patched(entries: list[tuple[str, bytes]], patch: Callable[[bytearray], None]) -> Case:
    def run(tmp: Path, client: TestClient) -> httpx.Response:
        archive = tmp / "case.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
            for name, data in entries:
                zf.writestr(name, data)
        data = bytearray(archive.read_bytes())
        patch(data)
        archive.write_bytes(bytes(data))
        return _post_zip(client, archive)

    return run


def _central(data: bytearray, index: int) -> int:
    position = -1
    for _ in range(index + 1):
        position = data.index(b"PK\x01\x02", position + 1)
    return position


def _set_encrypted(data: bytearray) -> None:
    at = _central(data, 0)
    data[at + 8] |= 0x1


def _overlap(data: bytearray) -> None:
    data[_central(data, 1) + 42 : _central(data, 1) + 46] = data[_central(data, 0) + 42 : _central(data, 0) + 46]


def _corrupt_payload(data: bytearray) -> None:
    at = data.index(b"0 0.5 0.5 0.2 0.2")
    data[at] = ord("9")


def _raw(content: bytes, content_type: str) -> Case:
    def run(_tmp: Path, client: TestClient) -> httpx.Response:
        return client.post("/datasets/upload", content=content, headers={"content-type": content_type})

    return run


def _with_dataset(action: Callable[[TestClient], httpx.Response]) -> Case:
    def run(tmp: Path, client: TestClient) -> httpx.Response:
        assert _post_zip(client, _yolo_with(tmp), "ok.zip").status_code == 200
        return action(client)

    return run


def _labelmap_upload(name: str, data: bytes) -> Case:
    def run(_tmp: Path, client: TestClient) -> httpx.Response:
        return client.post("/fs/upload_labelmap", files={"file": (name, data, "text/plain")})

    return run


def _random(n: int) -> bytes:
    import random

    return random.Random(n).randbytes(n)


def _bad_coco(tmp: Path, client: TestClient) -> httpx.Response:
    archive = coco_zip(tmp)
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("test/_annotations.coco.json", "{broken")
    return _post_zip(client, archive)


def _bad_qwen(tmp: Path, client: TestClient) -> httpx.Response:
    archive = qwen_zip(tmp)
    with zipfile.ZipFile(archive) as zf:
        entries = [(i.filename, zf.read(i)) for i in zf.infolist()]
    entries = [
        (n, d + b'{"image": "train0.png", "detections": [\n' if n == "val/annotations.jsonl" else d) for n, d in entries
    ]
    return _post_zip(client, zip_entries(tmp / "case.zip", entries))


def _coco_missing_image(tmp: Path, client: TestClient) -> httpx.Response:
    doc = {
        "images": [{"id": 1, "file_name": "ghost.png", "width": 4, "height": 4}],
        "annotations": [],
        "categories": [],
    }
    return _post_zip(
        client, zip_entries(tmp / "case.zip", [("train/_annotations.coco.json", json.dumps(doc).encode())])
    )


def _truncated_zip(tmp: Path, client: TestClient) -> httpx.Response:
    ds = synthetic(tmp / "src")
    data = zip_tree(ds.root, tmp / "full.zip").read_bytes()
    (tmp / "case.zip").write_bytes(data[: len(data) // 2])
    return _post_zip(client, tmp / "case.zip")


_PICKLE_RCE = b"cos\nsystem\n(S'touch /tmp/tator-pwned'\ntR."
_GOOD = [("labelmap.txt", b"a\n"), ("train/images/x.png", png_bytes()), ("train/labels/x.txt", b"0 0.5 0.5 0.2 0.2\n")]

CASES: dict[str, tuple[Case, int, str]] = {
    "zip_traversal": (_upload_entries([("../evil.txt", b"x"), *_GOOD]), 400, "dataset_zip_path_traversal"),
    "zip_nested_traversal": (_upload_entries([("a/../../evil.png", b"x")]), 400, "dataset_zip_path_traversal"),
    "zip_backslash_traversal": (_upload_entries([("..\\..\\evil.txt", b"x")]), 400, "dataset_zip_path_traversal"),
    "zip_absolute": (_upload_entries([("/tmp/evil.txt", b"x")]), 400, "dataset_zip_absolute_path"),
    "zip_drive": (_upload_entries([("C:/evil.txt", b"x")]), 400, "dataset_zip_absolute_path"),
    "zip_unc": (_upload_entries([("\\\\server\\share\\evil.txt", b"x")]), 400, "dataset_zip_absolute_path"),
    "zip_symlink": (
        _upload_entries([*_GOOD, (_info("train/images/y.png", stat.S_IFLNK | 0o777), b"/etc/passwd")]),
        400,
        "dataset_zip_symlink_unsupported",
    ),  # fmt: skip
    "zip_fifo": (
        _upload_entries([(_info("fifo", stat.S_IFIFO | 0o644), b"")]),
        400,
        "dataset_zip_special_member_unsupported",
    ),
    "zip_duplicate": (_upload_entries([*_GOOD, ("labelmap.txt", b"b\n")]), 400, "dataset_zip_duplicate_member"),
    "zip_file_and_folder": (_upload_entries([("a", b"x"), ("a/b.txt", b"y")]), 400, "dataset_zip_duplicate_member"),
    "zip_control_char_name": (_upload_entries([("a\x01b.txt", b"x")]), 400, "dataset_zip_member_name_invalid"),
    "zip_300_char_name": (_upload_entries([("n" * 300 + ".png", png_bytes())]), 400, "dataset_zip_member_name_invalid"),
    "zip_bomb_ratio": (
        _upload_entries([("bomb.txt", b"\0" * (3 * MiB // 2))]),
        413,
        "dataset_zip_compression_ratio_too_high",
    ),
    "zip_entry_too_large": (_upload_entries([("big.bin", b"\0" * 3 * MiB)]), 413, "dataset_zip_entry_too_large"),
    "zip_total_too_large": (
        _upload_entries([(f"z{i}.bin", os.urandom(8000) + b"\0" * (MiB - 8000)) for i in range(9)]),  # ~115x each
        413,
        "dataset_zip_uncompressed_too_large",
    ),  # fmt: skip
    "zip_encrypted": (_patched(_GOOD, _set_encrypted), 400, "dataset_zip_encrypted_unsupported"),
    "zip_overlapping": (_patched(_GOOD, _overlap), 400, "dataset_zip_overlapping_entries"),
    "zip_crc_mismatch": (_patched(_GOOD, _corrupt_payload), 400, "dataset_zip_invalid"),
    "not_multipart": (_raw(b"PK\x03\x04", "application/zip"), 415, "upload_content_type_invalid"),
    "multipart_without_file": (
        _raw(
            b'--xyz\r\nContent-Disposition: form-data; name="dataset_id"\r\n\r\nabc\r\n--xyz--\r\n',
            "multipart/form-data; boundary=xyz",
        ),
        400,
        "dataset_upload_file_missing",
    ),  # fmt: skip
    "random_bytes": (
        lambda tmp, c: c.post("/datasets/upload", files={"file": ("x.zip", _random(5000))}),
        400,
        "dataset_zip_invalid",
    ),  # fmt: skip
    "truncated_zip": (_truncated_zip, 400, "dataset_zip_invalid"),
    "archive_too_large": (
        lambda tmp, c: c.post("/datasets/upload", files={"file": ("x.zip", _random(3 * MiB))}),
        413,
        "upload_too_large",
    ),  # fmt: skip
    "truncated_image": (_yolo_case(image=png_bytes((64, 64))[:120]), 400, "dataset_image_invalid"),
    "text_as_image": (_yolo_case(image=b"GIF? no, plain text"), 400, "dataset_image_invalid"),
    "huge_dimensions": (_yolo_case(image=_huge_png()), 413, "dataset_image_too_large"),
    "wrong_labelmap": (_yolo_case(label="5 0.5 0.5 0.2 0.2\n"), 400, "dataset_label_class_out_of_range"),
    "malformed_label": (_yolo_case(label="0 0.5 zero 0.2 0.2\n"), 400, "dataset_label_invalid"),
    "label_out_of_image": (_yolo_case(label="0 1.5 0.5 0.2 0.2\n"), 400, "dataset_label_invalid"),
    "labelmap_missing": (_yolo_case(labelmap=None), 400, "labelmap_missing"),
    "labelmap_nul": (_yolo_case(labelmap="a\x00\n"), 400, "labelmap_invalid"),
    "malformed_coco_json": (_bad_coco, 400, "dataset_annotations_invalid"),
    "coco_missing_image": (_coco_missing_image, 400, "dataset_annotations_invalid"),
    "malformed_qwen_jsonl": (_bad_qwen, 400, "dataset_annotations_invalid"),
    "no_images": (_upload_entries([("readme.md", b"hi")]), 400, "dataset_format_unrecognized"),
    "dataset_id_traversal": (_with_dataset(lambda c: c.get("/datasets/%2E%2E/check")), 400, "invalid_id"),
    "upload_id_traversal": (lambda tmp, c: _post_zip(c, _yolo_with(tmp), dataset_id="../x"), 400, "invalid_id"),
    "upload_id_300_chars": (lambda tmp, c: _post_zip(c, _yolo_with(tmp), dataset_id="d" * 300), 400, "invalid_id"),
    "upload_id_unicode": (lambda tmp, c: _post_zip(c, _yolo_with(tmp), dataset_id="données"), 400, "invalid_id"),
    "upload_bad_type": (lambda tmp, c: _post_zip(c, _yolo_with(tmp), dataset_type="mask"), 400, "dataset_type_invalid"),
    "upload_no_file": (
        lambda tmp, c: c.post("/datasets/upload", files={"other": ("a.txt", b"x")}, data={"a": "b"}),
        400,
        "multipart_invalid",
    ),  # fmt: skip
    "upload_fields_only": (
        lambda tmp, c: c.post("/datasets/upload", data={"dataset_id": "x"}, files={}),
        415,
        "upload_content_type_invalid",
    ),  # fmt: skip
    "truncated_multipart": (
        _raw(
            b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.zip"\r\n\r\nPK',
            "multipart/form-data; boundary=xyz",
        ),
        400,
        "multipart_invalid",
    ),  # fmt: skip
    "delete_id_300_chars": (lambda tmp, c: c.delete("/datasets/" + "d" * 300), 400, "invalid_id"),
    "caption_traversal": (
        _with_dataset(lambda c: c.get("/datasets/ok/text_labels/..%2F..%2Fetc%2Fpasswd")),
        400,
        "invalid_relative_path",
    ),  # fmt: skip
    "caption_write_traversal": (
        _with_dataset(lambda c: c.post("/datasets/ok/text_labels/%2E%2E/%2E%2E/x.png", json={"caption": "x"})),
        400,
        "invalid_relative_path",
    ),  # fmt: skip
    "caption_too_large": (
        _with_dataset(lambda c: c.post("/datasets/ok/text_labels/x.png", json={"caption": "x" * 70_000})),
        413,
        "caption_too_large",
    ),  # fmt: skip
    "glossary_name_traversal": (
        lambda tmp, c: c.post("/glossaries", json={"name": "../x", "glossary": "a"}),
        400,
        "glossary_name_invalid",
    ),  # fmt: skip
    "glossary_name_300_chars": (
        lambda tmp, c: c.post("/glossaries", json={"name": "g" * 300, "glossary": "a"}),
        400,
        "glossary_name_invalid",
    ),  # fmt: skip
    "glossary_blank_name": (
        lambda tmp, c: c.post("/glossaries", json={"name": " ", "glossary": "a"}),
        400,
        "glossary_name_required",
    ),  # fmt: skip
    "crop_zip_bad_job": (
        lambda tmp, c: c.post("/crop_zip_chunk", params={"jobId": "../x"}, json={"images": []}),
        404,
        "crop_zip_job_not_found",
    ),  # fmt: skip
    "labelmap_pickle_rce": (_labelmap_upload("lm.pkl", _PICKLE_RCE), 400, "labelmap_invalid"),
    "labelmap_extension": (_labelmap_upload("lm.exe", b"a\n"), 400, "upload_extension_not_allowed"),
    "labelmap_unicode_name": (_labelmap_upload("étiquettes.txt", b"a\n"), 400, "upload_filename_invalid"),
    "session_id_traversal": (lambda tmp, c: c.get("/datasets/upload_session/%2E%2E"), 400, "invalid_id"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_input_is_refused_cleanly(case: str, hostile: tuple[TestClient, Settings], tmp_path: Path) -> None:
    client, settings = hostile
    run, status, code = CASES[case]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    outside_before = files_under(tmp_path) - {f for f in files_under(tmp_path) if f.startswith(("data/", "inputs/"))}
    datasets_before = files_under(settings.uploads_dir / "datasets")

    response = run(inputs, client)

    assert (response.status_code, response.json()["detail"]) == (status, code), response.text
    assert isinstance(response.json().get("message"), str)
    outside_after = {f for f in files_under(tmp_path) if not f.startswith(("data/", "inputs/"))}
    assert outside_after == outside_before
    assert not Path("/tmp/tator-pwned").exists()
    new = files_under(settings.uploads_dir / "datasets") - datasets_before
    assert all(f.startswith("ok/") for f in new), new  # only the fixture dataset some cases upload first
    assert [p.name for p in (settings.uploads_dir / "dataset_uploads").glob("staging-*")] == []
    assert not any("evil" in f for f in files_under(settings.data_dir))
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/datasets").status_code == 200


def test_corpus_is_big_enough() -> None:
    assert len(CASES) >= 25


def test_issue_zip_amplification_is_refused_and_the_total_is_capped(tmp_path: Path) -> None:
    # 300 members of exactly 1 MiB of zeros: a ~340 KB upload that used to store 300 MB.
    bomb = zip_entries(tmp_path / "bomb.zip", [(f"train/labels/{i}.txt", b"\0" * MiB) for i in range(300)])
    settings = Settings(data_dir=tmp_path / "data", device="cpu", log_level="WARNING", zip_max_extracted_bytes=3 * MiB)
    with TestClient(create_app(settings, loaders={})) as client:
        refused = _post_zip(client, bomb)
        assert (refused.status_code, refused.json()["detail"]) == (413, "dataset_zip_compression_ratio_too_high")
        big = zip_tree(synthetic(tmp_path / "src").root, tmp_path / "ok.zip")
        assert _post_zip(client, big).status_code == 200
        many = zip_entries(tmp_path / "many.zip", [(f"train/images/{i}.png", png_bytes()) for i in range(4)]
                           + [("train/noise.bin", os.urandom(3 * MiB))])  # fmt: skip
        capped = _post_zip(client, many)
        assert (capped.status_code, capped.json()["detail"]) == (413, "dataset_zip_uncompressed_too_large")
        assert client.get("/healthz").status_code == 200

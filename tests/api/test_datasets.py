from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tator.datasets.catalog import find_dataset
from tator.datasets.views import ensure_coco_view, read_view_coco
from tator.settings import Settings
from tator.storage.layout import Layout
from tests.datasets.zips import coco_zip, files_under, png_bytes, qwen_zip, synthetic, yolo_zip, zip_tree


def upload(client: TestClient, path: Path, **data: str) -> Any:
    with open(path, "rb") as handle:
        return client.post("/datasets/upload", files={"file": (path.name, handle, "application/zip")}, data=data)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_upload_list_download_delete(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, ds = yolo_zip(tmp_path)
    response = upload(client, archive, context="toy shapes")
    assert response.status_code == 200, response.text
    meta = response.json()
    assert meta["id"] == "shapes" and meta["label"] == "shapes" and meta["source"] == "registry"
    assert (meta["type"], meta["context"], meta["classes"]) == ("bbox", "toy shapes", list(ds.labelmap))
    assert (meta["train_count"], meta["val_count"], meta["image_count"]) == (6, 3, 9)
    assert len(meta["signature"]) == 16 and meta["created_at"] > 0
    root = settings.uploads_dir / "datasets" / "shapes"
    assert json.loads((root / "dataset.json").read_text())["id"] == "shapes"
    assert (root / "train" / "images" / "train_0000.png").is_file()  # the single top folder was unwrapped

    before = _snapshot(settings.uploads_dir)
    listed = client.get("/datasets").json()
    assert _snapshot(settings.uploads_dir) == before  # listing never writes
    entry = next(e for e in listed if e["id"] == "shapes")
    assert entry["yolo_ready"] and entry["yolo_layout"] == "split" and not entry["qwen_ready"]
    assert entry["yolo_labelmap_path"] == str(root / "labelmap.txt") and entry["caption_total"] == 9
    assert {"dataset_root", "registry_root", "coco_ready", "glossary_present", "caption_percent"} <= set(entry)

    again = upload(client, archive).json()
    assert again["id"] == "shapes_1" and again["signature"] == meta["signature"]
    assert {e["id"] for e in client.get("/datasets").json()} >= {"shapes", "shapes_1"}

    download = client.get("/datasets/shapes/download")
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        names = set(zf.namelist())
        assert zf.read("shapes/train/labels/train_0000.txt") == (root / "train/labels/train_0000.txt").read_bytes()
    assert "shapes/dataset.json" in names and "shapes/train/images/train_0000.png" in names

    gone = client.delete("/datasets/shapes").json()
    assert (gone["status"], gone["id"]) == ("deleted", "shapes") and gone["trash_id"]
    assert client.delete("/datasets/shapes").json()["detail"] == "dataset_not_found"
    assert not root.exists() and client.get("/datasets/shapes/check").status_code == 404
    assert files_under(settings.uploads_dir / "dataset_uploads") == set()


def test_lookup_by_signature_and_explicit_id_and_seg(client: TestClient, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path, polygons=True)
    meta = upload(client, archive, dataset_id="my-seg", dataset_type="seg", label="Mes formes").json()
    assert (meta["id"], meta["label"], meta["type"]) == ("my-seg", "Mes formes", "seg")
    assert client.get(f"/datasets/{meta['signature']}/glossary").json()["dataset_id"] == "my-seg"
    entry = next(e for e in client.get("/datasets").json() if e["id"] == "my-seg")
    assert entry["type"] == "seg" and entry["yolo_seg_ready"]


def test_check_reports_counts_per_class_and_problems(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, ds = yolo_zip(tmp_path)
    upload(client, archive)
    body = client.get("/datasets/shapes/check").json()
    expected = Counter(ds.labelmap[b.class_id] for image in ds.images for b in image.boxes)
    assert body["ok"] is True and body["format"] == "yolo"
    detail = body["detail"]
    assert (detail["images"], detail["labels"], detail["labelmap_classes"]) == (9, 9, 3)
    assert detail["boxes"] == sum(expected.values()) and detail["per_class"] == {n: expected[n] for n in ds.labelmap}
    assert detail["problems"] == []

    root = settings.uploads_dir / "datasets" / "shapes"
    image = root / "train/images/train_0001.png"
    image.write_bytes(image.read_bytes()[:200])  # truncated
    (root / "train/labels/train_0002.txt").write_text("7 0.5 0.5 0.1 0.1\n0 1.7 0.5 0.1 0.1\nx y\n")
    (root / "train/labels/train_0003.txt").write_text("")
    (root / "train/images/train_0004.jpg").write_bytes(png_bytes())  # same stem as train_0004.png
    (root / "train/labels/orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    body = client.get("/datasets/shapes/check").json()
    codes = body["detail"]["problem_counts"]
    assert body["ok"] is False
    for code in ("image_unreadable", "label_class_beyond_labelmap", "label_out_of_range", "label_malformed",
                 "label_empty", "duplicate_stem", "label_orphan"):  # fmt: skip
        assert codes.get(code) == 1, (code, codes)
    problem = next(p for p in body["detail"]["problems"] if p["code"] == "label_class_beyond_labelmap")
    assert (problem["severity"], problem["path"], problem["line"]) == ("error", "train/labels/train_0002.txt", 1)


def test_glossary_and_text_labels(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path)
    upload(client, archive)
    assert client.get("/datasets/shapes/glossary").json() == {"dataset_id": "shapes", "glossary": ""}
    saved = client.post("/datasets/shapes/glossary", json={"glossary": "red_square: box, crate\r\n"}).json()
    assert saved == {"dataset_id": "shapes", "glossary": "red_square: box, crate"}
    assert client.get("/datasets/shapes/glossary").json()["glossary"] == "red_square: box, crate"
    meta = json.loads((settings.uploads_dir / "datasets/shapes/dataset.json").read_text())
    assert meta["labelmap_glossary"] == "red_square: box, crate" and meta["classes"]
    entry = next(e for e in client.get("/datasets").json() if e["id"] == "shapes")
    assert entry["glossary_present"] and entry["glossary_preview"].startswith("red_square")
    as_json = client.post("/datasets/shapes/glossary", json={"glossary": {"red_square": ["box"]}}).json()
    assert json.loads(as_json["glossary"]) == {"red_square": ["box"]}

    missing = client.get("/datasets/shapes/text_labels/train_0000.png")
    assert missing.status_code == 404 and missing.json()["detail"] == "caption_not_found"
    saved_caption = client.post(
        "/datasets/shapes/text_labels/train/images/train_0000.png", json={"caption": "  a red square "}
    )
    assert saved_caption.json() == {"status": "saved", "caption": "a red square"}
    assert client.get("/datasets/shapes/text_labels/train_0000.png").json() == {"caption": "a red square"}
    assert (settings.uploads_dir / "datasets/shapes/text_labels/train_0000.txt").read_text() == "a red square"
    batch = client.post("/datasets/shapes/text_labels/batch", json={"image_names": ["train_0000.png", "x.png", "../a"]})
    assert batch.json()["captions"] == {"train_0000.png": "a red square", "x.png": None}
    assert batch.json()["invalid"] == ["../a"]
    assert (
        client.post("/datasets/shapes/text_labels/batch", json={"caption": "named batch"}).json()["status"] == "saved"
    )
    assert client.get("/datasets/shapes/text_labels/batch").json() == {"caption": "named batch"}
    entry = next(e for e in client.get("/datasets").json() if e["id"] == "shapes")
    assert entry["caption_count"] == 2


def test_build_qwen_creates_a_qwen_dataset(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, ds = yolo_zip(tmp_path)
    upload(client, archive, context="toys")
    client.post("/datasets/shapes/glossary", json={"glossary": "red_square: box"})
    meta = client.post("/datasets/shapes/build/qwen").json()
    assert meta["id"] == "shapes_qwen" and meta["classes"] == list(ds.labelmap)
    assert (meta["train_count"], meta["val_count"], meta["image_count"]) == (6, 3, 9)
    assert meta["labelmap_glossary"] == "red_square: box"
    root = settings.uploads_dir / "qwen_runs/datasets/shapes_qwen"
    line = json.loads((root / "train/annotations.jsonl").read_text().splitlines()[0])
    assert line["context"].startswith("toys\nObjects of interest:") and line["detections"][0]["label"] in ds.labelmap
    entry = next(e for e in client.get("/datasets").json() if e["id"] == "shapes_qwen")
    assert entry["source"] == "qwen" and entry["qwen_ready"] and entry["qwen_train_count"] == 6
    check = client.get("/datasets/shapes_qwen/check").json()
    assert check["format"] == "qwen" and check["ok"] and (check["detail"]["train"], check["detail"]["val"]) == (6, 3)
    assert client.post("/datasets/shapes/build/qwen").json()["id"] == "shapes_qwen_2"


def _member_digests(archive: Path) -> dict[str, str]:
    with zipfile.ZipFile(archive) as zf:
        return {i.filename: hashlib.sha256(zf.read(i)).hexdigest() for i in zf.infolist() if not i.is_dir()}


def test_coco_upload_gets_a_yolo_view_and_keeps_its_source(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    archive = coco_zip(tmp_path)
    meta = upload(client, archive).json()
    assert meta["source_format"] == "coco" and meta["classes"] == ["cat", "dog", "bird"]
    assert (meta["train_count"], meta["val_count"], meta["box_count"]) == (3, 2, 15)
    root = settings.uploads_dir / "datasets" / meta["id"]
    for name, digest in _member_digests(archive).items():
        assert hashlib.sha256((root / name).read_bytes()).hexdigest() == digest  # source untouched
    entry = next(e for e in client.get("/datasets").json() if e["id"] == meta["id"])
    assert (
        entry["yolo_ready"]
        and entry["coco_ready"]
        and entry["coco_val_json"] == str(root / "valid/_annotations.coco.json")
    )
    assert entry["yolo_labelmap_path"] == str(root / ".derived/yolo/labelmap.txt")
    assert client.get(f"/datasets/{meta['id']}/check").json()["ok"] is True
    names = set(zipfile.ZipFile(io.BytesIO(client.get(f"/datasets/{meta['id']}/download").content)).namelist())
    assert not any(".derived" in n for n in names)


def test_qwen_upload_and_yolo_dataset_coco_view(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    meta = upload(client, qwen_zip(tmp_path)).json()
    assert meta["source_format"] == "qwen" and meta["format"] == "qwen" and meta["classes"] == ["car", "person"]
    entry = next(e for e in client.get("/datasets").json() if e["id"] == meta["id"])
    assert entry["qwen_ready"] and entry["yolo_ready"] and entry["qwen_val_count"] == 2

    archive, ds = yolo_zip(tmp_path)
    upload(client, archive)
    layout = Layout(settings.uploads_dir, settings.logs_dir)
    ref = find_dataset(layout, "shapes")
    source = _snapshot(ref.path)
    files = ensure_coco_view(ref)
    assert set(files) == {"train", "val"} and all(".derived/coco" in str(p) for p in files.values())
    assert {k: v for k, v in _snapshot(ref.path).items() if not k.startswith(".derived")} == source
    assert read_view_coco(find_dataset(layout, "shapes")).box_count == sum(len(i.boxes) for i in ds.images)
    assert next(e for e in client.get("/datasets").json() if e["id"] == "shapes")["coco_ready"]


def test_flat_and_images_only_layouts(client: TestClient, tmp_path: Path) -> None:
    ds = synthetic(tmp_path / "src")
    flat = tmp_path / "flat"
    (flat / "images").mkdir(parents=True)
    (flat / "labels").mkdir()
    (flat / "labelmap.txt").write_bytes((ds.root / "labelmap.txt").read_bytes())
    for image in ds.split("train"):
        (flat / "images" / image.path.name).write_bytes(image.path.read_bytes())
        (flat / "labels" / image.label_path.name).write_bytes(image.label_path.read_bytes())
    meta = upload(client, zip_tree(flat, tmp_path / "flat.zip")).json()
    assert meta["yolo_layout"] == "flat" and meta["train_count"] == 6
    entry = next(e for e in client.get("/datasets").json() if e["id"] == "flat")
    assert entry["yolo_ready"] and entry["yolo_layout"] == "flat"

    pics = tmp_path / "pics"
    (pics / "images").mkdir(parents=True)
    for index in range(3):
        (pics / "images" / f"p{index}.png").write_bytes(png_bytes())
    meta = upload(client, zip_tree(pics, tmp_path / "pics.zip", prefix="holiday")).json()
    assert (meta["source_format"], meta["format"], meta["image_count"]) == ("images", "unknown", 3)
    assert meta["warnings"] == ["dataset_has_no_annotations"]
    check = client.get(f"/datasets/{meta['id']}/check").json()
    assert check == {"ok": False, "format": "unknown", "detail": "dataset_format_unrecognized"}


def test_download_reuploads_as_the_same_dataset(client: TestClient, settings: Settings, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path)
    meta = upload(client, archive, context="toys").json()
    client.post("/datasets/shapes/glossary", json={"glossary": "red_square: box"})
    downloaded = tmp_path / "downloaded.zip"
    downloaded.write_bytes(client.get("/datasets/shapes/download").content)
    again = upload(client, downloaded).json()
    assert again["id"] == "downloaded" and again["signature"] == meta["signature"]
    assert (again["context"], again["labelmap_glossary"]) == ("toys", "red_square: box")
    # a registry dataset's glossary lives in dataset.json only; uploaded metadata files stay as uploaded
    (settings.uploads_dir / "datasets/downloaded/metadata.json").write_text('{"labelmap_glossary": "stale"}')
    client.post("/datasets/downloaded/glossary", json={"glossary": "new"})
    assert client.get("/datasets/downloaded/glossary").json()["glossary"] == "new"
    assert "stale" in (settings.uploads_dir / "datasets/downloaded/metadata.json").read_text()


def test_ids_that_are_route_words_are_not_given_out(client: TestClient, tmp_path: Path) -> None:
    archive, _ = yolo_zip(tmp_path, name="upload_session")
    meta = upload(client, archive).json()
    assert meta["id"] == "upload_session_1"
    assert client.get("/datasets/upload_session_1/check").json()["ok"] is True


def test_listing_on_a_fresh_server_creates_nothing(client: TestClient, settings: Settings) -> None:
    assert client.get("/datasets").json() == []
    for root in ("datasets", "sam3_runs/datasets", "qwen_runs/datasets"):
        assert not (settings.uploads_dir / root).exists()
    assert client.get("/datasets/nothing/glossary").json()["detail"] == "dataset_not_found"


def test_heic_photos_are_dataset_images(client: TestClient, tmp_path: Path) -> None:
    heic = (Path(__file__).parents[1] / "runtime" / "data" / "quadrants.heic").read_bytes()
    flat = tmp_path / "phone"
    (flat / "images").mkdir(parents=True)
    (flat / "labels").mkdir()
    (flat / "labelmap.txt").write_text("red\nwhite\n")
    (flat / "images" / "IMG_0001.HEIC").write_bytes(heic)
    (flat / "labels" / "IMG_0001.txt").write_text("0 0.25 0.25 0.5 0.5\n1 0.75 0.75 0.5 0.5\n")
    meta = upload(client, zip_tree(flat, tmp_path / "phone.zip")).json()
    assert (meta["image_count"], meta["box_count"]) == (1, 2), meta
    check = client.get(f"/datasets/{meta['id']}/check").json()
    assert check["ok"] and check["detail"]["images"] == 1 and check["detail"]["problems"] == [], check

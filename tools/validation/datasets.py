"""Rows of the matrix's "Dataset & Glossary Management" and "Crop Zip / File Upload" sections.

Every row builds its own synthetic dataset (`tator.zoo.synthetic`), zips it, drives the live server over
HTTP and removes what it created (a labelmap upload cannot be removed over this API and stays).
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import time
import uuid
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tator itself, for the synthetic datasets

from tator.zoo.synthetic import SyntheticDataset, make_detection_dataset  # noqa: E402
from validation.context import Row, ValidationContext  # noqa: E402

DATASETS = "Dataset & Glossary Management"
CROPS = "Crop Zip / File Upload"


def _unique(prefix: str) -> str:
    return f"{prefix}_{time.strftime('%Y%m%d%H%M%S')}_{uuid.uuid4().hex[:6]}"


def make_zip(ctx: ValidationContext, name: str, *, polygons: bool = False) -> tuple[Path, SyntheticDataset]:
    """A synthetic YOLO split dataset in one top-level folder, zipped under the scratch dir."""
    ds = make_detection_dataset(ctx.workdir / name / name, n_train=6, n_val=3, image_size=96, polygons=polygons)
    archive = ctx.workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ds.root.rglob("*")):
            if path.is_file():
                zf.write(path, f"{name}/{path.relative_to(ds.root).as_posix()}")
    return archive, ds


def upload(ctx: ValidationContext, archive: Path, **form: str) -> dict[str, Any]:
    with open(archive, "rb") as handle:
        files = {"file": (archive.name, handle, "application/zip")}
        response = ctx.http.post("/datasets/upload", files=files, data=form)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _delete(ctx: ValidationContext, dataset_id: str) -> None:
    response = ctx.http.delete(f"/datasets/{dataset_id}")
    body = response.json()
    assert (body["status"], body["id"]) == ("deleted", dataset_id), response.text
    assert body.get("trash_id"), "a deleted dataset goes to the trash and can be restored"


def check_list_upload_delete_download(ctx: ValidationContext) -> str:
    name = _unique("validate_ds")
    archive, ds = make_zip(ctx, name)
    meta = upload(ctx, archive, context="validation shapes")
    assert (meta["id"], meta["image_count"], meta["classes"]) == (name, len(ds.images), list(ds.labelmap)), meta
    entry = next(e for e in ctx.http.get("/datasets").raise_for_status().json() if e["id"] == name)
    assert entry["yolo_ready"] and entry["train_count"] == 6 and entry["val_count"] == 3, entry
    download = ctx.http.get(f"/datasets/{name}/download").raise_for_status()
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        names = set(zf.namelist())
    assert f"{name}/labelmap.txt" in names and f"{name}/dataset.json" in names, sorted(names)[:5]
    _delete(ctx, name)
    assert ctx.http.get(f"/datasets/{name}/check").status_code == 404
    return f"uploaded {len(ds.images)} images, listed yolo_ready, downloaded {len(names)} files, deleted"


def check_build_qwen(ctx: ValidationContext) -> str:
    name = _unique("validate_qwen")
    archive, ds = make_zip(ctx, name)
    upload(ctx, archive)
    built = ctx.http.post(f"/datasets/{name}/build/qwen").raise_for_status().json()
    try:
        assert built["classes"] == list(ds.labelmap) and built["image_count"] == len(ds.images), built
        entry = next(e for e in ctx.http.get("/datasets").json() if e["id"] == built["id"])
        assert entry["source"] == "qwen" and entry["qwen_ready"], entry
        check = ctx.http.get(f"/datasets/{built['id']}/check").raise_for_status().json()
        assert check["format"] == "qwen" and check["ok"], check
    finally:
        _delete(ctx, built["id"])
        _delete(ctx, name)
    return f"{built['id']}: train={built['train_count']} val={built['val_count']}"


def check_dataset_check(ctx: ValidationContext) -> str:
    name = _unique("validate_check")
    archive, ds = make_zip(ctx, name)
    upload(ctx, archive)
    try:
        body = ctx.http.get(f"/datasets/{name}/check").raise_for_status().json()
    finally:
        _delete(ctx, name)
    expected = Counter(ds.labelmap[b.class_id] for image in ds.images for b in image.boxes)
    assert body["ok"] is True and body["format"] == "yolo", body
    assert body["detail"]["per_class"] == {n: expected[n] for n in ds.labelmap}, body["detail"]
    return f"ok: {body['detail']['images']} images, {body['detail']['boxes']} boxes, 0 problems"


def upload_and_edit_glossary(ctx: ValidationContext) -> tuple[str, str]:
    """The first half of the matrix's first flow: upload a dataset, edit its glossary, read it back.
    Returns (dataset id, glossary) so a later flow (recipe -> prepass) can continue from here."""
    name = _unique("validate_e2e")
    archive, ds = make_zip(ctx, name)
    upload(ctx, archive)
    glossary = "\n".join(f"{label}: {label.replace('_', ' ')}, {label.split('_')[-1]}" for label in ds.labelmap)
    saved = ctx.http.post(f"/datasets/{name}/glossary", json={"glossary": glossary}).raise_for_status().json()
    assert saved == {"dataset_id": name, "glossary": glossary}, saved
    assert ctx.http.get(f"/datasets/{name}/glossary").json()["glossary"] == glossary
    entry = next(e for e in ctx.http.get("/datasets").json() if e["id"] == name)
    assert entry["glossary_present"], entry
    return name, glossary


def check_glossary(ctx: ValidationContext) -> str:
    name, glossary = upload_and_edit_glossary(ctx)
    _delete(ctx, name)
    return f"saved and read back {len(glossary.splitlines())} glossary lines"


def check_upload_then_glossary_edit(ctx: ValidationContext) -> str:
    name, glossary = upload_and_edit_glossary(ctx)
    library = _unique("validate glossary")
    try:
        ctx.http.post("/glossaries", json={"name": library, "glossary": glossary}).raise_for_status()
        reused = ctx.http.get(f"/glossaries/{library}").raise_for_status().json()["glossary"]
        ctx.http.post(f"/datasets/{name}/glossary", json={"glossary": reused}).raise_for_status()
        assert ctx.http.get(f"/datasets/{name}/glossary").json()["glossary"] == glossary
    finally:
        ctx.http.delete(f"/glossaries/{library}")
        _delete(ctx, name)
    return "uploaded, edited the glossary, saved it to the library and applied it back (recipe/prepass: later rows)"


def check_text_labels(ctx: ValidationContext) -> str:
    name = _unique("validate_captions")
    archive, ds = make_zip(ctx, name)
    upload(ctx, archive)
    image = ds.images[0].path.name
    try:
        assert ctx.http.get(f"/datasets/{name}/text_labels/{image}").json()["detail"] == "caption_not_found"
        saved = ctx.http.post(f"/datasets/{name}/text_labels/{image}", json={"caption": " three shapes "}).json()
        assert saved == {"status": "saved", "caption": "three shapes"}, saved
        assert ctx.http.get(f"/datasets/{name}/text_labels/{image}").json() == {"caption": "three shapes"}
        batch = ctx.http.post(f"/datasets/{name}/text_labels/batch", json={"image_names": [image]}).json()
        assert batch["captions"] == {image: "three shapes"}, batch
    finally:
        _delete(ctx, name)
    return f"caption of {image} saved, read back, batch read"


def check_glossary_library(ctx: ValidationContext) -> str:
    name = _unique("Validate glossary")
    saved = ctx.http.post("/glossaries", json={"name": name, "glossary": "car: sedan, coupe"}).json()
    assert saved == {"status": "saved", "name": name}, saved
    assert any(g["name"] == name for g in ctx.http.get("/glossaries").json())
    assert ctx.http.get(f"/glossaries/{name}").json() == {"name": name, "glossary": "car: sedan, coupe"}
    assert ctx.http.delete(f"/glossaries/{name}").json() == {"status": "deleted", "name": name}
    assert ctx.http.get(f"/glossaries/{name}").status_code == 404
    refused = ctx.http.post("/glossaries", json={"name": "../x", "glossary": "a"})
    assert refused.json()["detail"] == "glossary_name_invalid", refused.text
    return "saved, listed, read, deleted; '../x' refused"


def check_upload_session(ctx: ValidationContext) -> str:
    name = _unique("validate_session")
    archive, ds = make_zip(ctx, name)
    data = archive.read_bytes()
    body = {"total_bytes": len(data), "filename": archive.name, "sha256": hashlib.sha256(data).hexdigest()}
    sid = ctx.http.post("/datasets/upload_session/init", json=body).raise_for_status().json()["session_id"]
    half = len(data) // 2
    ctx.http.put(f"/datasets/upload_session/{sid}/chunk", params={"offset": 0}, content=data[:half]).raise_for_status()
    assert ctx.http.get(f"/datasets/upload_session/{sid}").json()["offset"] == half
    ctx.http.put(
        f"/datasets/upload_session/{sid}/chunk", params={"offset": half}, content=data[half:]
    ).raise_for_status()
    meta = ctx.http.post(f"/datasets/upload_session/{sid}/finalize").raise_for_status().json()
    _delete(ctx, meta["id"])
    assert meta["image_count"] == len(ds.images), meta
    return f"{len(data)} bytes in 2 chunks, resumed at offset {half}, finalized as {meta['id']}"


def check_zip_safety(ctx: ValidationContext) -> str:
    cases = {"../evil.txt": "dataset_zip_path_traversal", "/etc/evil.txt": "dataset_zip_absolute_path"}
    for member, code in cases.items():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr(member, b"x")
        files = {"file": ("hostile.zip", buffer.getvalue(), "application/zip")}
        response = ctx.http.post("/datasets/upload", files=files)
        assert (response.status_code, response.json()["detail"]) == (400, code), response.text
    assert ctx.http.get("/healthz").json() == {"status": "ok"}
    return "traversal and absolute members refused with their codes; server healthy"


def _png_b64() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (30, 200, 40)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def check_crop_zip(ctx: ValidationContext) -> str:
    names: list[str] = []
    for method in ("POST", "GET"):  # POST is the route to use; GET stays for the existing UI
        job = ctx.http.post("/crop_zip_init").raise_for_status().json()["jobId"]
        image = {"image_base64": _png_b64(), "originalName": "frame.png",
                 "bboxes": [{"className": "leaf", "x": 4, "y": 4, "width": 20, "height": 10}]}  # fmt: skip
        chunk = ctx.http.post("/crop_zip_chunk", params={"jobId": job}, json={"images": [image]}).json()
        assert chunk["status"] == "ok" and chunk["count"] == 1, chunk
        response = ctx.http.request(method, "/crop_zip_finalize", params={"jobId": job}).raise_for_status()
        names += zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert names == ["frame-leaf-0.jpg", "frame-leaf-0.jpg"], names
    return f"init/chunk/finalize (POST and GET) -> {names[0]}"


def check_upload_labelmap(ctx: ValidationContext) -> str:
    name = _unique("validate_labelmap") + ".txt"
    files = {"file": (name, b"red_square\ngreen_circle\n", "text/plain")}
    saved = ctx.http.post("/fs/upload_labelmap", files=files).raise_for_status().json()
    assert saved["path"].endswith(name) and saved["classes"] == 2, saved
    again = ctx.http.post("/fs/upload_labelmap", files=files)
    assert again.status_code == 409 and again.json()["detail"] == "upload_exists", again.text
    return f"saved {name}; a second upload -> 409 upload_exists"


ROWS: list[Row] = [
    (DATASETS, "`/datasets` list/upload/delete/download", check_list_upload_delete_download),
    (DATASETS, "`/datasets/{id}/build/qwen`", check_build_qwen),
    (DATASETS, "`/datasets/{id}/check`", check_dataset_check),
    (DATASETS, "`/datasets/{id}/glossary` get/post", check_glossary),
    (DATASETS, "`/datasets/{id}/text_labels/{image}` get/post", check_text_labels),
    (DATASETS, "`/glossaries` get/post/delete", check_glossary_library),
    (DATASETS, "End-to-end (first half): upload → glossary edit", check_upload_then_glossary_edit),
    (DATASETS, "`/datasets/upload_session/*` resumable upload", check_upload_session),
    (DATASETS, "Dataset zip safety (traversal, absolute paths)", check_zip_safety),
    (CROPS, "`/crop_zip_*` endpoints", check_crop_zip),
    (CROPS, "`/fs/upload_labelmap`", check_upload_labelmap),
]

"""The dataset prepass job: run the prepass over a dataset (resuming from the per-image cache), write a
proposals dataset under the run dir, and (completion, in the server) install it as a registry dataset the
frontend can review.

Proposals layout (YOLO, split like the source): `<split>/images/*`, `<split>/labels/*.txt` (one line per
candidate: class cx cy w h, normalised) and `prepass_proposals.jsonl`, one JSON line per image with the label
file's path and, in the same order as its lines, each candidate as the contract's detection record (scores
and provenance).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tator.annotations import BBox
from tator.datasets.formats.model import DatasetAnnotations, ImageAnnotation, ObjectAnnotation, unique_name
from tator.datasets.formats.yolo import write_yolo
from tator.datasets.ingest import UploadOptions, ingest_tree, previous_upload
from tator.jobs.context import JobContext
from tator.jobs.kinds import Completion, JobKind
from tator.jobs.types import JobRecord
from tator.prepass.cache import ImageRecord
from tator.prepass.candidates import to_detection
from tator.prepass.dataset import DatasetPlan, prepass_dataset
from tator.prepass.models import LocalModels
from tator.storage.layout import Layout

KIND = "prepass.dataset"
OUTPUT_DIR = "proposals"
SIDECAR = "prepass_proposals.jsonl"


class PrepassJobResult(BaseModel):
    dataset_id: str = Field(description="The source dataset.")
    config_key: str = Field(description="The cache key of this config.")
    images: int = Field(description="Images in the dataset.")
    computed: int = Field(description="Images run by this job.")
    cached: int = Field(description="Images read from the cache (a resumed or repeated run).")
    candidates: int = Field(description="Candidates over all images.")
    output_dir: str = Field(description="The proposals dataset in the run dir (moved when installed).")


def write_proposals(plan: DatasetPlan, records: list[ImageRecord], dest: Path) -> int:
    """The proposals dataset under `dest`; returns the candidate count."""
    images = []
    for record in records:
        objects = tuple(ObjectAnnotation(c.class_id, BBox(*c.box)) for c in record.candidates)
        images.append(ImageAnnotation(record.split, record.image, record.width, record.height, objects))
    ann = DatasetAnnotations(Path(plan.dataset_root), tuple(plan.labelmap), tuple(images))
    layout = write_yolo(ann, dest)
    lines = []
    for split, split_dirs in layout.splits.items():
        taken: set[str] = set()  # the names write_yolo gave, in the same order
        for record in (r for r in records if r.split == split):
            name = unique_name(Path(record.image).name, taken)
            label = f"{split_dirs.labels}/{Path(name).with_suffix('.txt').name}"
            detections = [to_detection(c, record.width, record.height).model_dump() for c in record.candidates]
            lines.append(json.dumps({"image": record.image, "labels": label, "detections": detections}))
    (dest / SIDECAR).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return sum(len(r.candidates) for r in records)


def run(plan: DatasetPlan, ctx: JobContext) -> PrepassJobResult:
    """Prepass every image (cached ones are read back), then write the proposals dataset."""
    models = LocalModels(ctx.device)
    ctx.log(f"prepass of {len(plan.images)} images, config {plan.config_key[:12]}, sources {plan.config.sources}")

    seen = {"cached": 0}

    def progress(done: int, total: int, cached: int) -> None:
        seen["cached"] = cached
        ctx.progress(0.95 * done / max(total, 1), f"{done}/{total} images ({cached} from cache)", phase="prepass")

    try:
        records = prepass_dataset(plan, models, checkpoint=ctx.checkpoint, progress=progress)
    finally:
        models.close()
    ctx.checkpoint()
    out = ctx.run_dir / OUTPUT_DIR
    count = write_proposals(plan, records, out)
    cached = seen["cached"]
    ctx.log(f"done: {len(records)} images, {cached} from the cache, {count} candidates")
    return PrepassJobResult(
        dataset_id=plan.dataset_id, config_key=plan.config_key, images=len(records), computed=len(records) - cached,
        cached=cached, candidates=count, output_dir=str(out),
    )  # fmt: skip


def complete_job(layout: Layout) -> Completion:
    """Install the proposals as a registry dataset `<source>_prepass` (idempotent by the job id)."""

    def complete(record: JobRecord) -> dict[str, Any]:
        key = f"prepass-{record.job_id}"
        existing = previous_upload(layout, key)
        if existing is None:
            result = PrepassJobResult.model_validate(record.result)
            data = Path(result.output_dir)
            files = sorted(p for p in data.rglob("*") if p.is_file())
            sizes = _image_sizes(data, files)
            fingerprint = [(p.relative_to(data).as_posix(), p.stat().st_size, _crc(p)) for p in files]
            options = UploadOptions(dataset_id=f"{result.dataset_id}_prepass"[:120], idempotency_key=key,
                                    label=f"{result.dataset_id} prepass proposals")  # fmt: skip
            existing = ingest_tree(data, layout=layout, options=options, sizes=sizes, fingerprint=fingerprint,
                                   source_bytes=0)  # fmt: skip
        return {"proposals_dataset_id": existing["id"]}

    return complete


def _image_sizes(root: Path, files: list[Path]) -> dict[str, tuple[int, int]]:
    from tator.runtime.images import open_image

    sizes = {}
    for path in files:
        if path.parent.name == "images":
            with open_image(path) as image:
                sizes[path.relative_to(root).as_posix()] = image.size
    return sizes


def _crc(path: Path) -> int:
    return zlib.crc32(path.read_bytes()) & 0xFFFFFFFF


PREPASS_DATASET = JobKind(KIND, run, DatasetPlan, PrepassJobResult, resource="gpu")

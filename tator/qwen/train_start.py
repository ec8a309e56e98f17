"""Starting `/qwen/train/jobs`: every precondition is checked and the split cache written before queueing.

The split cache (`qwen_runs/splits/<job_id>/{train,val}.jsonl`, absolute image paths) is what the job
reads; `/qwen/train/cache/purge` clears it unless a Qwen job is still active.
"""

from __future__ import annotations

import importlib.util
import json
import random
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tator.datasets.catalog import find_dataset
from tator.datasets.labels import read_labelmap
from tator.datasets.views import qwen_files
from tator.errors import (
    DatasetIdRequired,
    QwenCachePurgeBlocked,
    QwenDatasetEmpty,
    QwenDatasetNotReady,
    QwenTrainingModeUnsupported,
    QwenTrainingUnavailable,
)
from tator.jobs.manager import JobManager
from tator.jobs.types import JobRecord
from tator.qwen.service import QwenContext
from tator.qwen.train import KIND, QWEN_TRAIN, QwenTrainParams
from tator.storage.files import atomic_write_text, directory_bytes, remove_tree
from tator.storage.layout import Layout

LORA_MODES = ("official_lora", "official", "lora")
QLORA_MODES = ("trl_qlora", "qlora", "trl")


class QwenTrainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset_id: str | None = Field(default=None, description="A Qwen-ready dataset (see /qwen/datasets)")
    run_name: str | None = Field(default=None, max_length=200, description="Label of the fine-tune")
    model_id: str | None = Field(default=None, description="Base model id from /qwen/models (default: active)")
    training_mode: str = Field(default="official_lora", description="official_lora (LoRA via peft)")
    system_prompt: str | None = Field(default=None, max_length=20_000, description="System message per example")
    devices: str | None = Field(default=None, description="Informational; the job scheduler picks the device")
    batch_size: int = Field(default=1, ge=1, le=1, description="Images per forward pass (1)")
    max_epochs: int = Field(default=3, ge=1, le=1000, description="Passes over the training split")
    lr: float = Field(default=2e-4, gt=0, le=1, description="AdamW learning rate")
    accumulate_grad_batches: int = Field(default=8, ge=1, le=1024, description="Images per optimizer step")
    warmup_steps: int = Field(default=0, ge=0, le=100_000, description="Linear warm-up steps")
    num_workers: int = Field(default=0, ge=0, le=64, description="Informational (data is read in the job)")
    lora_rank: int = Field(default=8, ge=1, le=512, description="LoRA rank r")
    lora_alpha: int = Field(default=16, ge=1, le=4096, description="LoRA alpha")
    lora_dropout: float = Field(default=0.05, ge=0, lt=1, description="LoRA dropout")
    lora_target_modules: list[str] | str | None = Field(
        default=None, description="Module names (list or comma string); default: language-model q/k/v/o"
    )
    log_every_n_steps: int = Field(default=1, ge=1, le=100_000, description="Loss series resolution")
    min_pixels: int | None = Field(default=None, ge=1, description="Image area bounds for training (pixels)")
    max_pixels: int | None = Field(default=None, ge=1, description="Image area bounds for training (pixels)")
    max_length: int = Field(default=4096, ge=16, le=65_536, description="Token cap per example")
    seed: int = Field(default=0, description="Training seed")
    random_split: bool = Field(default=False, description="Re-split train+val at random")
    val_percent: float = Field(default=0.1, ge=0, lt=1, description="Validation share when random_split")
    split_seed: int = Field(default=0, description="Seed of the random split")
    train_limit: int | None = Field(default=None, ge=1, description="Use at most this many training images")
    val_limit: int | None = Field(default=None, ge=0, description="Use at most this many validation images")

    @field_validator("lora_target_modules")
    @classmethod
    def _modules(cls, value: list[str] | str | None) -> list[str] | str | None:
        if isinstance(value, str):
            return [m.strip() for m in value.split(",") if m.strip()] or None
        return value


def _records(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                record["image"] = str(path.parent / Path(str(record["image"])).name)
                records.append(record)
    return records


def _splits(files: dict[str, Path], request: QwenTrainRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    train, val = _records(files["train"]), _records(files["val"])
    if request.random_split:
        pool = train + val
        random.Random(request.split_seed).shuffle(pool)
        cut = int(round(len(pool) * request.val_percent))
        val, train = pool[:cut], pool[cut:]
    if request.train_limit is not None:
        train = train[: request.train_limit]
    if request.val_limit is not None:
        val = val[: request.val_limit]
    return train, val


def _write(path: Path, records: list[dict[str, Any]]) -> str:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    return str(path)


def start_training(request: QwenTrainRequest, *, qwen: QwenContext, layout: Layout, jobs: JobManager) -> JobRecord:
    """Validate, write the split cache and queue the job; returns the queued record."""
    if not request.dataset_id:
        raise DatasetIdRequired("dataset_id is required")
    mode = request.training_mode.strip().lower()
    if mode in QLORA_MODES:
        raise QwenTrainingModeUnsupported("QLoRA needs bitsandbytes and CUDA, not installed here; use official_lora")
    if mode not in LORA_MODES:
        raise QwenTrainingModeUnsupported(f"unknown training_mode {mode[:40]!r}", training_mode=mode[:40])
    if importlib.util.find_spec("peft") is None:
        raise QwenTrainingUnavailable("peft is not installed")
    ref = find_dataset(layout, request.dataset_id)
    files = qwen_files(ref)
    if not files:
        raise QwenDatasetNotReady(
            f"dataset {ref.id} is not in Qwen format; convert it with /datasets/{ref.id}/build/qwen", dataset_id=ref.id
        )
    base = qwen.resolve(request.model_id)
    train, val = _splits(files, request)
    if not train:
        raise QwenDatasetEmpty(f"dataset {ref.id} has no training images", dataset_id=ref.id)
    labelmap = ref.path / "labelmap.txt"
    classes = read_labelmap(labelmap) if labelmap.is_file() else list(ref.meta.get("classes") or [])
    if not classes:
        classes = list(dict.fromkeys(d["label"] for r in train for d in r.get("detections", [])))
    job_id = uuid.uuid4().hex
    cache = layout.root("qwen_runs") / "splits" / job_id
    min_pixels, max_pixels = qwen.pixels(qwen.settings())
    params = QwenTrainParams(
        run_name=request.run_name or f"{ref.id} LoRA", dataset_id=ref.id, base_model=base.source,
        train_file=_write(cache / "train.jsonl", train), val_file=_write(cache / "val.jsonl", val),
        classes=[str(c) for c in classes], system_prompt=request.system_prompt, max_epochs=request.max_epochs,
        batch_size=request.batch_size, lr=request.lr, accumulate_grad_batches=request.accumulate_grad_batches,
        warmup_steps=request.warmup_steps, lora_rank=request.lora_rank, lora_alpha=request.lora_alpha,
        lora_dropout=request.lora_dropout, lora_target_modules=request.lora_target_modules or None,
        log_every_n_steps=request.log_every_n_steps, min_pixels=request.min_pixels or min_pixels,
        max_pixels=request.max_pixels or max_pixels, max_length=request.max_length, seed=request.seed,
    )  # fmt: skip
    try:
        return jobs.submit_kind(QWEN_TRAIN, params, run_dir=qwen.runs_root / job_id, job_id=job_id)
    except BaseException:
        remove_tree(cache)
        raise


def cache_size(layout: Layout) -> dict[str, int]:
    return {"bytes": directory_bytes(layout.root("qwen_runs") / "splits")}


def purge_cache(layout: Layout, jobs: JobManager) -> dict[str, Any]:
    """Delete the split cache; refused while a Qwen training job is queued or running."""
    active = [r.job_id for r in jobs.list(kinds=(KIND,)) if not r.status.terminal]
    if active:
        raise QwenCachePurgeBlocked("a Qwen training job still uses the cache", job_ids=active[:20])
    splits = layout.root("qwen_runs") / "splits"
    size = directory_bytes(splits)
    remove_tree(splits)
    return {"status": "purged", "deleted_bytes": size}

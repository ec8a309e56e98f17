"""The Qwen LoRA fine-tuning job: `run(params, ctx)` trains a peft adapter on a Qwen-format split cache.

Each example is the image, the same item prompt `/qwen/infer` sends by default, and as the answer the
JSON array of its boxes in the model's own convention (0..1000 grid for Qwen3-VL, resized-input pixels
for Qwen2.5-VL). Only answer tokens carry loss. The adapter goes to `<run_dir>/adapter`; the
completion step (in the server, after success) writes `<run_dir>/metadata.json`, which is what makes
`/qwen/models` list the run, so a cancelled or failed run is never listed. The job loads its own model,
reaches the outside only through `ctx`, and checks for cancel between steps.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from tator.errors import QwenDatasetEmpty, TrainingProducedNoWeights
from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind
from tator.jobs.types import JobRecord
from tator.qwen.coords import bbox_space
from tator.qwen.generate import chat_text, model_input_size
from tator.qwen.loader import QwenHandle
from tator.qwen.models import ADAPTER_DIR, METADATA_FILE, adapter_complete
from tator.qwen.settings import DEFAULT_BBOX_TEMPLATE
from tator.storage.files import atomic_write_json

log = logging.getLogger(__name__)

KIND = "qwen.train"
LANGUAGE_ATTENTION = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)$"


class QwenTrainParams(BaseModel):
    run_name: str
    dataset_id: str
    base_model: str = Field(description="HF id or local dir of the base model")
    train_file: str = Field(description="Split cache JSONL: {image (absolute path), context, detections}")
    val_file: str
    classes: list[str]
    system_prompt: str | None = None
    max_epochs: int = 3
    batch_size: int = 1
    lr: float = 2e-4
    accumulate_grad_batches: int = 8
    warmup_steps: int = 0
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | None = None
    log_every_n_steps: int = 1
    min_pixels: int
    max_pixels: int
    max_length: int = 4096
    seed: int = 0


class QwenTrainResult(BaseModel):
    """What the job returns; the completion step writes it (as metadata) beside the adapter."""

    id: str
    label: str
    base_model: str
    model_family: str
    dataset_id: str
    classes: list[str]
    adapter_path: str
    created_at: float
    training_seconds: float
    steps: int
    first_loss: float | None
    final_loss: float | None
    config: dict[str, Any]


def _records(path: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def item_prompt(classes: list[str], context: str) -> str:
    """The default `/qwen/infer` prompt for these classes, so the trained behaviour is what infer asks for."""
    items = ", ".join(classes)
    text = DEFAULT_BBOX_TEMPLATE.replace("{items}", items).replace("{image_type}", "image")
    return text.replace("{extra_context}", context.strip()).strip()


def answer_text(record: dict[str, Any], family: str, size: tuple[int, int], model_size: tuple[int, int]) -> str:
    """The target answer: the record's xyxy pixel boxes in the model's convention, as a JSON array."""
    sx, sy = (1000 / size[0], 1000 / size[1]) if bbox_space(family) == "grid_1000" else (
        model_size[0] / size[0], model_size[1] / size[1])  # fmt: skip
    items = []
    for det in record.get("detections", []):
        x1, y1, x2, y2 = det["bbox"]
        box = [round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy)]
        items.append({"bbox_2d": box, "label": det["label"]})
    return json.dumps(items, ensure_ascii=False)


def encode(handle: QwenHandle, record: dict[str, Any], params: QwenTrainParams) -> dict[str, Any]:
    """Model inputs with `labels` (prompt tokens masked with -100)."""
    from PIL import Image

    with Image.open(record["image"]) as opened:
        image = opened.convert("RGB")
    context = str(record.get("context") or "")
    prompt = chat_text(
        handle, item_prompt(params.classes, context), with_image=True, system_prompt=params.system_prompt
    )
    size_kwargs = {"size": {"shortest_edge": params.min_pixels, "longest_edge": params.max_pixels}}
    prompt_inputs = handle.processor(text=[prompt], images=[image], images_kwargs=size_kwargs, return_tensors="pt")
    model_size = model_input_size(handle, prompt_inputs["image_grid_thw"])
    full = prompt + answer_text(record, handle.family, image.size, model_size) + "<|im_end|>\n"
    inputs = handle.processor(text=[full], images=[image], images_kwargs=size_kwargs, return_tensors="pt")
    inputs = {k: v[:, : params.max_length] if k in ("input_ids", "attention_mask") else v for k, v in inputs.items()}
    labels = inputs["input_ids"].clone()
    labels[:, : prompt_inputs["input_ids"].shape[1]] = -100
    inputs["labels"] = labels
    return inputs


def _load(params: QwenTrainParams, device: str) -> QwenHandle:
    import torch
    import transformers
    from peft import LoraConfig, get_peft_model

    tf: Any = transformers
    torch.manual_seed(params.seed)
    model = tf.AutoModelForImageTextToText.from_pretrained(params.base_model, dtype=torch.float32)
    processor = tf.AutoProcessor.from_pretrained(params.base_model)
    config = LoraConfig(
        r=params.lora_rank, lora_alpha=params.lora_alpha, lora_dropout=params.lora_dropout,
        target_modules=params.lora_target_modules or LANGUAGE_ATTENTION, bias="none",
    )  # fmt: skip
    peft_model = get_peft_model(model, config).to(device)
    return QwenHandle(peft_model, processor, device, str(model.config.model_type))


def _loss(handle: QwenHandle, record: dict[str, Any], params: QwenTrainParams) -> Any:
    inputs = {k: v.to(handle.device) for k, v in encode(handle, record, params).items()}
    return handle.model(**inputs).loss


def _validate(handle: QwenHandle, records: list[dict[str, Any]], params: QwenTrainParams, ctx: JobContext) -> float:
    import torch

    handle.model.eval()
    total = 0.0
    with torch.no_grad():
        for record in records:
            ctx.checkpoint()
            total += float(_loss(handle, record, params))
    handle.model.train()
    return total / max(1, len(records))


def run(params: QwenTrainParams, ctx: JobContext) -> QwenTrainResult:
    """Train and save the adapter; returns the run's summary (published as metadata on completion)."""
    import torch

    started = time.time()
    train, val = _records(params.train_file), _records(params.val_file)
    if not train:
        raise QwenDatasetEmpty("the training split is empty")
    ctx.progress(0.0, "loading the base model", phase="load")
    handle = _load(params, ctx.device)
    trainable = [p for p in handle.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params.lr)
    accumulate = max(1, params.accumulate_grad_batches)
    total_steps = params.max_epochs * math.ceil(len(train) / accumulate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / params.warmup_steps) if params.warmup_steps else 1.0
    )
    ctx.log(f"training {sum(p.numel() for p in trainable)} LoRA parameters on {len(train)} images, {total_steps} steps")
    handle.model.train()
    rng, step, losses = random.Random(params.seed), 0, []
    for epoch in range(params.max_epochs):
        order = list(range(len(train)))
        rng.shuffle(order)
        for index, position in enumerate(order):
            ctx.checkpoint()
            loss = _loss(handle, train[position], params)
            (loss / accumulate).backward()
            losses.append(float(loss))
            if (index + 1) % accumulate == 0 or index + 1 == len(order):
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                mean = sum(losses[-accumulate:]) / len(losses[-accumulate:])
                if step % max(1, params.log_every_n_steps) == 0:
                    ctx.metric("train_loss", step, mean)
                ctx.progress(
                    step / max(1, total_steps), f"epoch {epoch + 1} step {step}: loss {mean:.4f}", phase="train"
                )
        if val:
            val_loss = _validate(handle, val, params, ctx)
            ctx.metric("val_loss", epoch + 1, val_loss)
            ctx.log(f"epoch {epoch + 1}: val_loss {val_loss:.4f}")
    return _save(handle, params, ctx, losses, step, started)


def _save(
    handle: QwenHandle, params: QwenTrainParams, ctx: JobContext, losses: list[float], steps: int, started: float
) -> QwenTrainResult:
    ctx.checkpoint()
    adapter = Path(ctx.run_dir) / ADAPTER_DIR
    handle.model.save_pretrained(adapter, safe_serialization=True)
    ctx.log(f"adapter saved to {adapter}")
    return QwenTrainResult(
        id=Path(ctx.run_dir).name, label=params.run_name, base_model=params.base_model, model_family=handle.family,
        dataset_id=params.dataset_id, classes=params.classes, adapter_path=str(adapter), created_at=time.time(),
        training_seconds=round(time.time() - started, 2), steps=steps, first_loss=losses[0] if losses else None,
        final_loss=sum(losses[-5:]) / len(losses[-5:]) if losses else None,
        config=params.model_dump(exclude={"train_file", "val_file"}),
    )  # fmt: skip


def complete_training(record: JobRecord) -> dict[str, Any]:
    """The completion step (in the server): publish the run by writing its metadata beside the adapter.
    Idempotent: it rewrites the same file from the same result."""
    result = QwenTrainResult.model_validate(record.result or {})
    adapter = Path(result.adapter_path)
    if not adapter_complete(adapter):
        raise TrainingProducedNoWeights(f"job {record.job_id} left no adapter weights", job_id=record.job_id)
    atomic_write_json(adapter.parent / METADATA_FILE, result.model_dump(mode="json"))
    log.info("qwen.published job=%s adapter=%s", record.job_id, adapter)
    return {"model_id": result.id}


QWEN_TRAIN = JobKind(KIND, run, QwenTrainParams, QwenTrainResult, resource="gpu")

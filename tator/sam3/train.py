"""SAM3 fine-tuning as a job: `run(plan, ctx)` trains a `Sam3Model` on COCO train/val files with text prompts.

transformers' `Sam3Model` has no loss of its own. Each sample is (image, class name as the prompt, that
class's boxes); predictions are matched one-to-one to the boxes (Hungarian, on score + L1 + GIoU cost) and
trained DETR-style: sigmoid focal loss on every query's score, L1 + GIoU on matched boxes and BCE on the
presence score. The checkpoint is written to `<run_dir>/model/` (staged, then renamed), which makes the
run appear in the SAM3 model list; nothing outside the run directory is touched.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tator.jobs.context import JobContext
from tator.jobs.kinds import JobKind
from tator.sam3.models import RUN_META, RUN_MODEL_DIR
from tator.storage.files import atomic_write_json, remove_tree

KIND = "sam3.train"


class Sam3TrainPlan(BaseModel):
    """Everything the job needs, resolved by the server before it is queued."""

    run_id: str
    label: str
    dataset_id: str
    base_source: str = Field(description="Local directory or Hugging Face id of the model to fine-tune.")
    coco_train_json: str
    coco_val_json: str
    classes: list[str]
    prompt_variants: dict[str, list[str]] = Field(default_factory=dict)
    max_epochs: int = 2
    batch_size: int = 2
    learning_rate: float = 1e-4
    train_limit: int | None = None
    val_limit: int | None = None
    freeze_language_backbone: bool = True
    val_score_thresh: float = 0.2
    val_max_dets: int = 10
    seed: int = 42


@dataclass(frozen=True)
class Sample:
    image: Path
    prompt: str
    boxes: list[list[float]]  # normalised xyxy (0..1) of the prompt's class


def load_samples(coco_json: str, classes: list[str], variants: dict[str, list[str]], limit: int | None) -> list[Sample]:
    """One sample per (image, class present in it) plus one absent class per image as a negative."""
    doc = json.loads(Path(coco_json).read_text(encoding="utf-8"))
    names = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
    by_image: dict[int, dict[str, list[list[float]]]] = {}
    for ann in doc["annotations"]:
        x, y, w, h = (float(v) for v in ann["bbox"])
        by_image.setdefault(int(ann["image_id"]), {}).setdefault(names[int(ann["category_id"])], []).append(
            [x, y, x + w, y + h]
        )
    samples: list[Sample] = []
    images = doc["images"][:limit] if limit else doc["images"]
    for n, image in enumerate(images):
        path = Path(coco_json).parent / image["file_name"]
        width, height = float(image["width"]), float(image["height"])
        present = by_image.get(int(image["id"]), {})
        for name, boxes in present.items():
            prompt = random.Random(n).choice([name, *variants.get(name, [])])
            norm = [[b[0] / width, b[1] / height, b[2] / width, b[3] / height] for b in boxes]
            samples.append(Sample(path, prompt, norm))
        absent = [c for c in classes if c not in present]
        if absent:
            samples.append(Sample(path, absent[n % len(absent)], []))
    return samples


def sample_loss(out: Any, index: int, boxes: list[list[float]]) -> Any:
    """DETR-style loss of one sample: focal (scores) + matched L1 and GIoU (boxes) + presence BCE."""
    import torch
    import torch.nn.functional as F  # noqa: N812
    from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]
    from torchvision.ops import generalized_box_iou, sigmoid_focal_loss

    logits, pred = out.pred_logits[index], out.pred_boxes[index]
    target = torch.zeros_like(logits)
    loss = logits.new_zeros(())
    if boxes:
        gt = torch.tensor(boxes, dtype=pred.dtype, device=pred.device)
        with torch.no_grad():
            cost = -logits.sigmoid()[:, None] + 5 * torch.cdist(pred, gt, p=1) - 2 * generalized_box_iou(pred, gt)
            rows, cols = linear_sum_assignment(cost.cpu().numpy())
        rows_t, cols_t = torch.as_tensor(rows, device=pred.device), torch.as_tensor(cols, device=pred.device)
        target[rows_t] = 1.0
        matched, truth = pred[rows_t], gt[cols_t]
        loss = loss + 5 * F.l1_loss(matched, truth) + 2 * (1 - torch.diag(generalized_box_iou(matched, truth))).mean()
    loss = loss + sigmoid_focal_loss(logits, target, reduction="sum") / max(1, len(boxes))
    if out.presence_logits is not None:
        presence = torch.full_like(out.presence_logits[index], 1.0 if boxes else 0.0)
        loss = loss + F.binary_cross_entropy_with_logits(out.presence_logits[index], presence)
    return loss


def _forward(model: Any, processor: Any, batch: list[Sample], device: str) -> Any:
    from PIL import Image

    images = [Image.open(s.image).convert("RGB") for s in batch]
    inputs = processor(images=images, text=[s.prompt for s in batch], return_tensors="pt")
    return model(**{k: v.to(device) for k, v in inputs.items() if k != "original_sizes"})


def recall_at_iou(
    model: Any, processor: Any, samples: list[Sample], device: str, *, score: float, max_dets: int, iou: float = 0.5
) -> float:
    """Share of ground-truth boxes matched (IoU >= `iou`) by a detection scoring over `score` (top `max_dets`)."""
    import torch
    from torchvision.ops import box_iou

    found = total = 0
    model.eval()
    with torch.inference_mode():
        for sample in samples:
            if not sample.boxes:
                continue
            out = _forward(model, processor, [sample], device)
            scores = out.pred_logits[0].sigmoid()
            if out.presence_logits is not None:
                scores = scores * out.presence_logits[0].sigmoid()
            keep = torch.argsort(scores, descending=True)[:max_dets]
            keep = keep[scores[keep] > score]
            gt = torch.tensor(sample.boxes, device=scores.device)
            total += len(sample.boxes)
            if len(keep):
                found += int((box_iou(gt, out.pred_boxes[0][keep]).max(dim=1).values >= iou).sum())
    return found / total if total else 0.0


def _epoch(model: Any, processor: Any, optimizer: Any, samples: list[Sample], plan: Sam3TrainPlan, ctx: JobContext,
           epoch: int) -> float:  # fmt: skip
    model.train()
    random.Random(plan.seed + epoch).shuffle(samples)
    steps = max(1, (len(samples) + plan.batch_size - 1) // plan.batch_size)
    total = 0.0
    for step in range(steps):
        ctx.checkpoint()  # cancel between steps
        batch = samples[step * plan.batch_size : (step + 1) * plan.batch_size]
        out = _forward(model, processor, batch, ctx.device)
        loss = sum(sample_loss(out, i, s.boxes) for i, s in enumerate(batch)) / len(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
        done = (epoch + (step + 1) / steps) / plan.max_epochs
        ctx.progress(0.05 + 0.9 * done, f"epoch {epoch + 1}/{plan.max_epochs} step {step + 1}/{steps}", phase="train")
    return total / steps


class Sam3TrainResult(BaseModel):
    """run_id, checkpoint, train_loss per epoch, val_recall_iou50_before / _after."""

    model_config = ConfigDict(extra="allow")


def run(plan: Sam3TrainPlan, ctx: JobContext) -> Sam3TrainResult:
    """Fine-tune, evaluate recall@0.5 on val before and after, and save the checkpoint under the run dir."""
    import torch
    import transformers

    tf: Any = transformers
    torch.manual_seed(plan.seed)
    ctx.progress(0.0, "loading model", phase="setup")
    model = tf.Sam3Model.from_pretrained(plan.base_source).to(ctx.device)
    processor = tf.Sam3Processor.from_pretrained(plan.base_source)
    if plan.freeze_language_backbone:
        for param in model.text_encoder.parameters():
            param.requires_grad_(False)
    train = load_samples(plan.coco_train_json, plan.classes, plan.prompt_variants, plan.train_limit)
    val = load_samples(plan.coco_val_json, plan.classes, {}, plan.val_limit)
    ctx.log(f"samples train={len(train)} val={len(val)} device={ctx.device}")
    before = recall_at_iou(model, processor, val, ctx.device, score=plan.val_score_thresh, max_dets=plan.val_max_dets)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=plan.learning_rate)
    losses = []
    for epoch in range(plan.max_epochs):
        losses.append(_epoch(model, processor, optimizer, train, plan, ctx, epoch))
        ctx.metric("train_loss", epoch + 1, losses[-1])
        ctx.log(f"epoch {epoch + 1} train_loss={losses[-1]:.4f}")
    after = recall_at_iou(model, processor, val, ctx.device, score=plan.val_score_thresh, max_dets=plan.val_max_dets)
    ctx.metric("val_recall_iou50", plan.max_epochs, after)
    ctx.checkpoint()
    _save(model, processor, ctx.run_dir)
    result = {"run_id": plan.run_id, "checkpoint": str(ctx.run_dir / RUN_MODEL_DIR), "train_loss": losses,
              "val_recall_iou50_before": before, "val_recall_iou50_after": after}  # fmt: skip
    meta = {"label": plan.label, "dataset_id": plan.dataset_id, "classes": plan.classes, "created_at": time.time()}
    atomic_write_json(ctx.run_dir / RUN_META, {**meta, **result})
    ctx.progress(1.0, "done", phase="done")
    return Sam3TrainResult(**result)


# The checkpoint and its meta are written under the run dir by the job: nothing to publish in the server.
SAM3_TRAIN = JobKind(KIND, run, Sam3TrainPlan, Sam3TrainResult, resource="gpu")


def _save(model: Any, processor: Any, run_dir: Path) -> None:
    staging = run_dir / f".{RUN_MODEL_DIR}.tmp"
    remove_tree(staging)
    model.save_pretrained(staging)
    processor.save_pretrained(staging)
    os.replace(staging, run_dir / RUN_MODEL_DIR)

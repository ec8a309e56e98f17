"""Qwen VLM routes (models and runtime, inference and captions, datasets, LoRA training)."""

from __future__ import annotations

from tator.api.qwen import datasets, infer, models, prepass, train
from tator.api.routing import IndexedRouter

router = IndexedRouter()
router.include_router(models.router)
router.include_router(infer.router)
router.include_router(datasets.router)
router.include_router(train.router)
router.include_router(prepass.router)

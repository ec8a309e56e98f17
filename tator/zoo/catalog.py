"""Base models per family: real hub ids for production, or the offline tiny zoo for tests and validation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

BaseModelMode = Literal["hub", "tiny"]

# Hugging Face ids, ultralytics weight names, or RF-DETR variant names (meaning the library's default weights).
HUB_BASE_MODELS: dict[str, str] = {
    "yolo": "yolo26n.pt",
    "rfdetr": "rfdetr-nano",
    "sam3": "facebook/sam3",
    "sam3_tracker": "facebook/sam3",
    "sam1": "facebook/sam-vit-huge",
    "clip": "openai/clip-vit-base-patch32",
    "dinov3": "facebook/dinov3-vits16-pretrain-lvd1689m",
    "qwen": "Qwen/Qwen3-VL-4B-Instruct",
}

# OpenAI CLIP names (as the `clip` package spells them) -> Hugging Face ids.
CLIP_NAME_ALIASES: dict[str, str] = {
    "ViT-B/32": "openai/clip-vit-base-patch32",
    "ViT-B/16": "openai/clip-vit-base-patch16",
    "ViT-L/14": "openai/clip-vit-large-patch14",
    "ViT-L/14@336px": "openai/clip-vit-large-patch14-336",
}

# Family -> the tiny-zoo entry that stands in for it.
TINY_FOR_FAMILY: dict[str, str] = {
    "yolo": "yolo",
    "rfdetr": "rfdetr",
    "sam3": "sam3",
    "sam3_tracker": "sam3_tracker",
    "sam1": "sam1",
    "clip": "clip",
    "dinov3": "dinov3",
    "qwen": "qwen3_vl",
}


def resolve_clip_name(name: str) -> str:
    """A Hugging Face id or local path for a CLIP name; unknown names are returned unchanged."""
    return CLIP_NAME_ALIASES.get(name.strip(), name)


def base_model_sources(mode: BaseModelMode, zoo_dir: Path) -> dict[str, str]:
    """family -> `ModelSpec.source` of its base model. `tiny` builds the zoo under `zoo_dir` on first use."""
    if mode == "hub":
        return dict(HUB_BASE_MODELS)
    if mode != "tiny":
        raise ValueError(f"unknown base model mode {mode!r} (expected 'hub' or 'tiny')")
    from tator.zoo.tiny import ensure_tiny_zoo

    zoo = ensure_tiny_zoo(zoo_dir)
    return {family: str(zoo[entry]) for family, entry in TINY_FOR_FAMILY.items()}

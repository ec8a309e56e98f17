"""The hub model catalog: each family's production base model and the CLIP names users may type.

The tiny stand-ins used by tests, validation and `TATOR_MODEL_ZOO=tiny` live in `tator.zoo.tiny`; only the
composition root (`tator.state`) chooses between the two.
"""

from __future__ import annotations

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


def resolve_clip_name(name: str) -> str:
    """A Hugging Face id or local path for a CLIP name; unknown names are returned unchanged."""
    return CLIP_NAME_ALIASES.get(name.strip(), name)

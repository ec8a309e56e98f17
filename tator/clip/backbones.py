"""Which embedding backbone a request means: CLIP (OpenAI name, hub id or local folder) or DINOv3.

A backbone becomes a registry `ModelSpec` (family `clip` or `dinov3`), so training, activation and
prediction share one loaded copy. With the tiny zoo every CLIP name stands for the zoo's tiny CLIP, so
validation runs offline. Local folders are accepted only inside the data directory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tator.errors import ClipEncoderTypeUnsupported, ClipModelNotAllowed, TatorError
from tator.runtime.catalog import CLIP_NAME_ALIASES
from tator.runtime.loaders import ModelSpec
from tator.storage.paths import PathGuard

EncoderType = Literal["clip", "dinov3"]
ENCODER_TYPES: tuple[str, ...] = ("clip", "dinov3")
# The reference's list, largest first, then the 336 px variant.
CLIP_BACKBONES: tuple[str, ...] = ("ViT-L/14", "ViT-B/16", "ViT-B/32", "ViT-L/14@336px")
DEFAULT_CLIP = "ViT-B/32"  # what the hub base model (openai/clip-vit-base-patch32) is called
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[\w.-]{1,95}$")
# Output dims of the OpenAI CLIP heads, used to guess the backbone of a legacy head without metadata.
CLIP_DIMS: dict[int, str] = {512: "ViT-B/32", 768: "ViT-L/14"}


@dataclass(frozen=True)
class Backbone:
    """`name` is what the client asked for (e.g. `ViT-B/32`); `source` is what the loader opens."""

    encoder_type: EncoderType
    name: str
    source: str

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec(self.encoder_type, self.source)


def check_encoder_type(value: str) -> EncoderType:
    value = (value or "clip").strip().lower()
    if value == "clip":
        return "clip"
    if value == "dinov3":
        return "dinov3"
    raise ClipEncoderTypeUnsupported(f"encoder_type must be one of {', '.join(ENCODER_TYPES)}", encoder_type=value)


def resolve_backbone(
    encoder_type: str, name: str | None, *, base_models: Mapping[str, str], tiny: bool, data_dir: Path
) -> Backbone:
    """The backbone for (`encoder_type`, `name`); an empty name means the server's base model."""
    kind = check_encoder_type(encoder_type)
    asked = (name or "").strip()
    base = base_models[kind]
    if not asked or asked == base:
        return Backbone(kind, asked or base, base)
    if kind == "clip" and asked in CLIP_NAME_ALIASES:
        return Backbone(kind, asked, base if tiny else CLIP_NAME_ALIASES[asked])
    if _HUB_ID.fullmatch(asked) and not asked.startswith((".", "/")) and ".." not in asked:
        local = (data_dir / asked).resolve()
        if not local.exists():
            return Backbone(kind, asked, asked)
    try:
        folder = PathGuard(data_dir).locate(asked)  # the one path guard: inside the data directory or refused
    except TatorError:
        folder = None
    if folder is not None and folder.is_dir():
        return Backbone(kind, asked, str(folder))
    raise ClipModelNotAllowed(
        f"{asked!r} is not a known {kind} backbone, a Hugging Face id, or a model folder in the data directory",
        clip_model=asked[:200],
    )


def backbone_fingerprint(backbone: Backbone) -> str:
    """A short digest naming this exact backbone: a local folder's file names, sizes and mtimes count."""
    digest = hashlib.sha256(f"{backbone.encoder_type}\0{backbone.source}".encode())
    folder = Path(backbone.source)
    if folder.is_absolute() and folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:24]

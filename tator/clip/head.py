"""The classifier head file format: a `.npz` that holds only numbers and JSON, so reading it runs no code.

Layout of `<name>.npz` (a zip): `meta.json` (UTF-8 JSON: format, version, classes, labelmap, encoder,
training summary) and `layer<i>_weight.npy` / `layer<i>_bias.npy` for each dense layer (`weight` is
`[out, in]`). Every head, logistic regression or MLP, is a stack of dense layers with `activation` between
them and a softmax at the end; inference is pure numpy. Arrays are read with `allow_pickle=False` and the
metadata with `json`, so a hostile file can at worst be refused.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tator.errors import ClassifierLoadFailed
from tator.storage.files import atomic_write_bytes

log = logging.getLogger(__name__)

HEAD_FORMAT = "tator.classifier_head"
HEAD_VERSION = 1
HEAD_EXTENSION = ".npz"
META_MEMBER = "meta.json"
MAX_META_BYTES = 4 * 1024 * 1024
MAX_LAYERS = 16
ACTIVATIONS = ("relu", "gelu", "none")
BACKGROUND_PREFIX = "__bg_"

FloatArray = np.ndarray


def is_background(label: str) -> bool:
    """`__bg_*` pseudo-classes (and a literal `background`) are background, never an object class."""
    return label.startswith(BACKGROUND_PREFIX) or label.strip().lower() in {"background", "__background__"}


@dataclass(frozen=True)
class ClassifierHead:
    """Dense layers over L2-normalised embeddings, softmax over `classes` (background classes included)."""

    classes: tuple[str, ...]
    layers: tuple[tuple[FloatArray, FloatArray], ...]
    activation: str = "relu"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def embedding_dim(self) -> int:
        return int(self.layers[0][0].shape[1])

    @property
    def background_classes(self) -> tuple[str, ...]:
        return tuple(c for c in self.classes if is_background(c))

    @property
    def foreground_classes(self) -> tuple[str, ...]:
        return tuple(c for c in self.classes if not is_background(c))

    def logits(self, embeddings: FloatArray) -> FloatArray:
        """Raw scores `[N, classes]` for embeddings `[N, dim]` (normalised here when the head says so)."""
        x = np.asarray(embeddings, dtype=np.float32)
        if self.meta.get("normalize_embeddings", True):
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        for index, (weight, bias) in enumerate(self.layers):
            x = x @ weight.T + bias
            if index < len(self.layers) - 1:
                x = _activate(x, self.activation)
        return x

    def predict_proba(self, embeddings: FloatArray, *, logit_adjustment: bool = False) -> FloatArray:
        """Class probabilities `[N, classes]`; with `logit_adjustment` the training class prior is removed."""
        scores = self.logits(embeddings)
        priors = self.meta.get("class_priors")
        if logit_adjustment and isinstance(priors, list) and len(priors) == len(self.classes):
            scores = scores - np.log(np.clip(np.asarray(priors, dtype=np.float32), 1e-8, None))
        scores = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)


def _activate(x: FloatArray, activation: str) -> FloatArray:
    if activation == "relu":
        return np.asarray(np.maximum(x, 0.0), dtype=np.float32)
    if activation == "gelu":
        return np.asarray(0.5 * x * (1.0 + np.tanh(0.7978845608 * (x + 0.044715 * x**3))), dtype=np.float32)
    return x


def build_head(
    classes: Sequence[str],
    layers: Sequence[tuple[FloatArray, FloatArray]],
    *,
    activation: str = "relu",
    meta: dict[str, Any] | None = None,
) -> ClassifierHead:
    """A validated head from plain arrays (float32); raises ClassifierLoadFailed on inconsistent shapes."""
    cast = tuple((np.ascontiguousarray(w, dtype=np.float32), np.ascontiguousarray(b, dtype=np.float32))
                 for w, b in layers)  # fmt: skip
    head = ClassifierHead(tuple(str(c) for c in classes), cast, activation, dict(meta or {}))
    _check(head)
    return head


def _check(head: ClassifierHead) -> None:
    if not head.layers or len(head.layers) > MAX_LAYERS:
        raise ClassifierLoadFailed(f"a head has 1-{MAX_LAYERS} layers")
    if head.activation not in ACTIVATIONS:
        raise ClassifierLoadFailed(f"unknown activation {head.activation!r}")
    if len(head.classes) < 2 or len(set(head.classes)) != len(head.classes):
        raise ClassifierLoadFailed("a head needs at least two distinct classes")
    width = head.layers[0][0].shape[1] if head.layers[0][0].ndim == 2 else -1
    for weight, bias in head.layers:
        if weight.ndim != 2 or bias.shape != (weight.shape[0],) or weight.shape[1] != width:
            raise ClassifierLoadFailed("head layers have inconsistent shapes")
        if not (np.isfinite(weight).all() and np.isfinite(bias).all()):
            raise ClassifierLoadFailed("head weights are not finite")
        width = weight.shape[0]
    if width != len(head.classes):
        raise ClassifierLoadFailed(f"the last layer has {width} outputs for {len(head.classes)} classes")


def head_bytes(head: ClassifierHead) -> bytes:
    """The `.npz` file content of a head (meta.json first, so listing reads only the first member)."""
    meta = {
        **head.meta,
        "format": HEAD_FORMAT,
        "version": HEAD_VERSION,
        "classes": list(head.classes),
        "labelmap": list(head.meta.get("labelmap") or head.foreground_classes),
        "activation": head.activation,
        "layer_shapes": [list(w.shape) for w, _ in head.layers],
        "embedding_dim": head.embedding_dim,
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(META_MEMBER, json.dumps(meta, indent=1, ensure_ascii=False))
        for index, (weight, bias) in enumerate(head.layers):
            for name, array in ((f"layer{index}_weight", weight), (f"layer{index}_bias", bias)):
                member = io.BytesIO()
                np.lib.format.write_array(member, array, allow_pickle=False)
                zf.writestr(f"{name}.npy", member.getvalue())
    return buffer.getvalue()


def save_head(head: ClassifierHead, path: Path) -> None:
    """Write the head atomically (temp file + rename)."""
    atomic_write_bytes(path, head_bytes(head))


def read_head_meta(path: Path) -> dict[str, Any]:
    """Only the JSON metadata of a head file (no array is parsed); ClassifierLoadFailed if unreadable."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(META_MEMBER)
            if info.file_size > MAX_META_BYTES:
                raise ClassifierLoadFailed(f"{path.name}: metadata over {MAX_META_BYTES} bytes")
            meta = json.loads(zf.read(info).decode("utf-8"))
    except ClassifierLoadFailed:
        raise
    except (OSError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, ValueError) as exc:
        raise ClassifierLoadFailed(f"{path.name} is not a classifier head file: {exc}", path=path.name) from exc
    if not isinstance(meta, dict) or meta.get("format") != HEAD_FORMAT:
        raise ClassifierLoadFailed(f"{path.name} is not a {HEAD_FORMAT} file", path=path.name)
    if not isinstance(meta.get("version"), int) or meta["version"] > HEAD_VERSION:
        raise ClassifierLoadFailed(f"{path.name} has an unsupported format version", path=path.name)
    return meta


def load_head(path: Path) -> ClassifierHead:
    """Read and validate a head file; arrays with `allow_pickle=False`, metadata as JSON."""
    meta = read_head_meta(path)
    shapes = meta.get("layer_shapes")
    if not isinstance(shapes, list) or not 0 < len(shapes) <= MAX_LAYERS:
        raise ClassifierLoadFailed(f"{path.name}: bad layer list", path=path.name)
    layers: list[tuple[FloatArray, FloatArray]] = []
    try:
        with np.load(path, allow_pickle=False) as archive:
            for index in range(len(shapes)):
                layers.append((archive[f"layer{index}_weight"], archive[f"layer{index}_bias"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise ClassifierLoadFailed(f"{path.name}: unreadable weights: {exc}", path=path.name) from exc
    classes = meta.get("classes")
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise ClassifierLoadFailed(f"{path.name}: classes must be a list of names", path=path.name)
    if any(w.dtype.kind != "f" or b.dtype.kind != "f" for w, b in layers):
        raise ClassifierLoadFailed(f"{path.name}: weights must be floating point", path=path.name)
    return build_head(classes, layers, activation=str(meta.get("activation", "relu")), meta=meta)

"""Reading and writing ultralytics detection checkpoints without running the pickle's code.

An ultralytics `.pt` is a pickle of the whole model. Two independent gates stand before any of it runs:
1. a static scan of the archive's one `data.pkl` (pickletools, nothing executed) collects every global it
   names; anything outside `ALLOWED_GLOBALS` (model classes) and `TORCH_GLOBALS` (tensor rebuilding) is
   refused. The scan does not rely on torch's process-wide allowlist, which other code may have widened.
2. `torch.load(weights_only=True)`, whose restricted unpickler only calls torch's own safe functions and the
   classes we registered, and never `__reduce__`-style arbitrary callables.
torch and ultralytics are imported inside the functions.
"""

from __future__ import annotations

import copy
import importlib
import os
import pickle
import pickletools
import threading
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tator.errors import TatorError

# The torch and ultralytics classes a YOLOv8 / YOLO11 / YOLO12 / YOLO26 detection checkpoint pickles. Every
# entry is an nn.Module subclass whose unpickling only fills its __dict__ (no constructor runs). Functions,
# `builtins.*` and anything that could be called with attacker data are deliberately absent.
ALLOWED_GLOBALS: frozenset[str] = frozenset(
    {
        *(f"torch.nn.modules.{name}" for name in (
            "activation.SiLU", "activation.ReLU", "activation.LeakyReLU", "activation.Hardswish",
            "activation.GELU", "batchnorm.BatchNorm2d", "container.ModuleList", "container.Sequential",
            "conv.Conv2d", "conv.ConvTranspose2d", "linear.Identity", "linear.Linear", "pooling.MaxPool2d",
            "upsampling.Upsample", "dropout.Dropout",
        )),
        *(f"ultralytics.nn.modules.conv.{name}" for name in (
            "Conv", "DWConv", "GhostConv", "Concat", "ConvTranspose", "DWConvTranspose2d", "Focus", "RepConv",
        )),
        *(f"ultralytics.nn.modules.block.{name}" for name in (
            "C1", "C2", "C2f", "C3", "C3x", "C3k", "C3k2", "C2PSA", "C2fPSA", "PSABlock", "Attention", "A2C2f",
            "ABlock", "AAttn", "SPP", "SPPF", "Bottleneck", "BottleneckCSP", "GhostBottleneck", "C3Ghost",
            "RepC3", "DFL", "ELAN1", "RepNCSPELAN4", "RepCSP", "RepBottleneck", "ADown", "AConv", "SPPELAN",
            "SCDown", "C2fCIB", "CIB", "PSA", "RepVGGDW",
        )),
        "ultralytics.nn.modules.head.Detect",
        "ultralytics.nn.tasks.DetectionModel",
        "tator.yolo.graft_head.GraftedClassConv",  # the layer a head graft adds (our own class)
    }
)  # fmt: skip
# What torch.save itself writes for tensors, parameters and state dicts (all on torch's default allowlist).
TORCH_GLOBALS: frozenset[str] = frozenset({
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
    "collections.OrderedDict", "torch.Size", "builtins.set",
    *(f"torch.{kind}Storage" for kind in ("Float", "Half", "BFloat16", "Double", "Long", "Int", "Short", "Char",
                                          "Byte", "Bool")),
})  # fmt: skip
MAX_PICKLE_BYTES = 64 * 1024 * 1024  # the object graph of a detection model is a few hundred KB
MODEL_CLASS = "ultralytics.nn.tasks.DetectionModel"
# torch.serialization's allowlist is one process-wide set that add_safe_globals rebinds; serialise the updates.
_REGISTER_LOCK = threading.Lock()


def checkpoint_globals(path: Path) -> list[str]:
    """Every global the checkpoint's pickle names, read statically; ValueError when it is not a readable
    torch.save archive or uses opcodes torch.save never writes (STACK_GLOBAL hides names from a scan)."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [info for info in archive.infolist() if info.filename.rpartition("/")[2] == "data.pkl"]
            if len(pickles) != 1 or pickles[0].file_size > MAX_PICKLE_BYTES:
                raise ValueError("expected exactly one data.pkl of a bounded size")
            data = archive.read(pickles[0])
        found: set[str] = set()
        for opcode, arg, _ in pickletools.genops(data):
            if opcode.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                found.add(f"{'builtins' if module == '__builtin__' else module}.{name}")  # protocol 2 spelling
            elif opcode.name == "STACK_GLOBAL":
                raise ValueError("STACK_GLOBAL opcode (not written by torch.save)")
    except (OSError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as exc:  # genops: ValueError too
        raise ValueError(f"not a torch.save archive: {type(exc).__name__}") from exc
    return sorted(found)


def check_checkpoint(path: Path, error: type[TatorError]) -> list[str]:
    """The checkpoint's globals; `error` unless every one is allowed (a static scan: nothing is executed)."""
    try:
        names = checkpoint_globals(path)
    except ValueError as exc:
        raise error(f"{path.name} is not a readable torch checkpoint ({exc})") from exc
    refused = [name for name in names if name not in ALLOWED_GLOBALS and name not in TORCH_GLOBALS]
    if refused:
        raise error(
            f"{path.name} references code outside the allowed model classes: {', '.join(refused[:5])}",
            refused=refused[:20],
        )
    return names


def _allowed_classes(names: list[str]) -> list[Callable[..., Any] | tuple[Callable[..., Any], str]]:
    import torch

    classes: list[Callable[..., Any] | tuple[Callable[..., Any], str]] = []
    for name in names:
        module_name, _, attr = name.rpartition(".")
        value = getattr(importlib.import_module(module_name), attr, None)
        if isinstance(value, type) and issubclass(value, torch.nn.Module):
            classes.append(value)
    return classes


def load_restricted(path: Path, error: type[TatorError]) -> dict[str, Any]:
    """`torch.load(weights_only=True)` of a checkpoint after the static scan; `error` on anything refused."""
    import torch

    names = [name for name in check_checkpoint(path, error) if name in ALLOWED_GLOBALS]
    with _REGISTER_LOCK:
        # Registered for the process (idempotent): the scoped `safe_globals` context removes its entries
        # on exit, which would pull them out from under another thread's load of the same classes.
        torch.serialization.add_safe_globals(_allowed_classes(names))
    try:
        location = str(path)
        ckpt = torch.load(location, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError from a damaged archive, ...
        raise error(f"{path.name} could not be loaded safely: {type(exc).__name__}: {str(exc)[:200]}") from exc
    if not isinstance(ckpt, dict):
        raise error(f"{path.name} is not an ultralytics checkpoint (no checkpoint dict)")
    return ckpt


def detection_model(ckpt: Mapping[str, Any], error: type[TatorError]) -> Any:
    """The DetectionModel inside a checkpoint (EMA weights first, as ultralytics does); `error` otherwise."""
    model = ckpt.get("ema") or ckpt.get("model")
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    if kind != MODEL_CLASS:
        raise error(f"the checkpoint holds a {type(model).__qualname__}, not a YOLO detection model")
    return model


def plain_train_args(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """The checkpoint's training arguments, keeping only plain values (they are re-pickled by us)."""
    args = ckpt.get("train_args")
    if not isinstance(args, dict):
        return {}
    return {str(k): v for k, v in args.items() if isinstance(v, str | int | float | bool | type(None))}


def save_checkpoint(model: Any, dest: Path, *, train_args: Mapping[str, Any], dtype: Any) -> None:
    """Write `model` as an ultralytics checkpoint (`YOLO(dest)` loads it), atomically, in `dtype`."""
    import torch
    import ultralytics

    snapshot = copy.deepcopy(model).to(dtype)
    for param in snapshot.parameters():
        param.requires_grad_(False)
    record = {
        "epoch": -1,
        "best_fitness": None,
        "model": snapshot,
        "ema": None,
        "optimizer": None,
        "train_args": dict(train_args),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "version": str(getattr(ultralytics, "__version__", "")),
    }
    dest.parent.mkdir(parents=True, exist_ok=True)
    temp = dest.with_name(f".{dest.name}.tmp")
    torch.save(record, str(temp))
    os.replace(temp, dest)

"""Head surgery for the YOLO head graft: add class outputs to a Detect head, keeping the base outputs exact.

How the base outputs stay bit-identical. A Detect head scores classes with, per pyramid level, a small conv
stack whose LAST layer is a 1x1 conv with one output row per class. The graft replaces that last layer with
`GraftedClassConv(base=<the base conv, untouched>, new=<a 1x1 conv for the added classes>)`: the base logits
come from the very same conv on the very same features, so they are identical to the bit (a single widened
conv is not: its kernels may accumulate in a different order, measured at ~1e-9 on CPU). Training (ultralytics
`freeze` by module name) updates only the `new` convs; everything else, batch-norm statistics included, is
frozen. The trainer's EMA still rescales frozen tensors (v*d + (1-d)*v is not exactly v), so the final model
is the untouched start model with only the trained `new` convs copied in. The class-branch width of a Detect
head depends on nc, which is why the head is widened in place instead of being rebuilt from the yaml with
the new nc. torch and ultralytics are imported inside the functions.
"""

from __future__ import annotations

import ast
import copy
import importlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tator.errors import TatorError, YoloGraftDetectOnly

if TYPE_CHECKING:
    import torch

CLASS_BRANCHES = ("cv3", "one2one_cv3")  # one2one_*: the NMS-free head of end-to-end models (YOLO26)
BOX_BRANCHES = ("cv2", "one2one_cv2")
GRAFT_KEY = "tator_head_graft"  # in model.yaml: {"built_nc": B, "added": [N, ...]}: enough to rebuild it
# yaml layer names a graftable detection model may use (parse_model looks them up; nothing else is allowed).
LAYER_NAMES = frozenset({
    "Conv", "DWConv", "GhostConv", "Concat", "ConvTranspose", "DWConvTranspose2d", "Focus", "C1", "C2", "C2f",
    "C3", "C3x", "C3k2", "C2PSA", "C2fPSA", "A2C2f", "SPP", "SPPF", "Bottleneck", "BottleneckCSP",
    "GhostBottleneck", "C3Ghost", "RepC3", "ELAN1", "RepNCSPELAN4", "ADown", "AConv", "SPPELAN", "SCDown",
    "C2fCIB", "PSA", "Detect", "nn.Upsample", "nn.Identity", "nn.MaxPool2d", "nn.ConvTranspose2d",
})  # fmt: skip
ACTIVATIONS = frozenset({"SiLU", "ReLU", "LeakyReLU", "Hardswish", "GELU", "Identity"})
_ACTIVATION = re.compile(r"^(?:torch\.)?nn\.([A-Za-z]+)\(([0-9eE.,+\- ]*)\)$")
_SCALARS = (str, int, float, bool, type(None))
MAX_LAYERS, MAX_REPEATS, MAX_WIDTH = 256, 64, 8192


def detect_head(model: Any) -> Any:
    """The model's last layer when it is a plain ultralytics Detect head (not Segment/Pose/OBB)."""
    layers = getattr(model, "model", None)
    head = layers[-1] if layers is not None and len(layers) else None
    if head is None or f"{type(head).__module__}.{type(head).__qualname__}" != "ultralytics.nn.modules.head.Detect":
        kind = type(head).__qualname__ if head is not None else "no head"
        raise YoloGraftDetectOnly(f"head graft needs a detection model; the base ends in {kind}")
    return head


def class_convs(model: Any) -> list[Any]:
    """The last class layer of every level of every class branch, in a fixed order."""
    head = detect_head(model)
    return [branch[-1] for name in CLASS_BRANCHES if getattr(head, name, None) is not None
            for branch in getattr(head, name)]  # fmt: skip


def graft_record(yaml: Mapping[str, Any], nc: int) -> dict[str, Any]:
    """What the yaml says about earlier grafts: the nc the head was built for and the classes added since."""
    graft = yaml.get(GRAFT_KEY)
    built = graft.get("built_nc") if isinstance(graft, dict) else None
    added = graft.get("added") if isinstance(graft, dict) else None
    if not (isinstance(built, int) and isinstance(added, list) and all(isinstance(n, int) for n in added)):
        return {"built_nc": nc, "added": []}
    return {"built_nc": built, "added": list(added)}


def expand_head(model: Any, names: Sequence[str]) -> Any:
    """Add class outputs for names[nc:] to every class branch, in place (float32); the new convs start at
    zero weight and ultralytics' prior bias. Names, nc and the yaml's graft record are updated."""
    import torch

    from tator.yolo.graft_head import GraftedClassConv

    head = detect_head(model)
    base, total = int(head.nc), len(names)
    if total <= base:
        raise ValueError(f"a graft adds classes: {total} names for a {base}-class head")
    model.float()
    for name in CLASS_BRANCHES:
        for level, branch in enumerate(getattr(head, name, None) or ()):
            new = torch.nn.Conv2d(int(branch[-1].in_channels), total - base, 1, bias=True)
            stride = float(head.stride[level]) if len(head.stride) > level else 8.0
            with torch.no_grad():
                new.weight.zero_()
                prior = math.log(5 / total / (640 / max(stride, 1.0)) ** 2)  # ultralytics' Detect.bias_init
                new.bias.fill_(prior)  # type: ignore[union-attr]
            branch[-1] = GraftedClassConv(branch[-1], new)
    head.nc, head.no = total, total + int(head.reg_max) * 4
    yaml = dict(getattr(model, "yaml", {}) or {})
    record = graft_record(yaml, base)
    yaml[GRAFT_KEY] = {"built_nc": record["built_nc"], "added": [*record["added"], total - base]}
    yaml["nc"] = total
    model.yaml = yaml
    model.names = dict(enumerate(names))
    model.nc = total
    return model


def new_class_freeze(model: Any) -> list[int | str]:
    """ultralytics `freeze` entries (layer indices and module names) leaving only the added class convs
    trainable; ultralytics also keeps the batch-norm statistics of frozen modules fixed."""
    head = detect_head(model)
    index = len(model.model) - 1
    frozen: list[int | str] = list(range(index))
    frozen += [f"{index}.{name}" for name in BOX_BRANCHES if getattr(head, name, None) is not None]
    for name in CLASS_BRANCHES:
        for level, branch in enumerate(getattr(head, name, None) or ()):
            last = len(branch) - 1
            frozen += [f"{index}.{name}.{level}.{block}" for block in range(last)]
            frozen.append(f"{index}.{name}.{level}.{last}.base")
    return frozen


def copy_new_convs(target: Any, trained: Any) -> None:
    """Copy the trained `new` convs into `target` (the start model), touching nothing else."""
    import torch

    pairs = list(zip(class_convs(target), class_convs(trained), strict=True))
    with torch.no_grad():
        for mine, theirs in pairs:
            if mine.new.weight.shape != theirs.new.weight.shape:
                raise ValueError("the trained head does not match the grafted head")
            mine.new.weight.copy_(theirs.new.weight.to(mine.new.weight.dtype))
            mine.new.bias.copy_(theirs.new.bias.to(mine.new.bias.dtype))


def graft_trainer(start: Any) -> type:
    """A DetectionTrainer that trains `start` itself: the stock one rebuilds the model from its yaml, which
    knows nothing of the grafted layers (and could change the class-branch width)."""
    from ultralytics.models.yolo.detect import DetectionTrainer

    class GraftTrainer(DetectionTrainer):
        def get_model(self, cfg: Any = None, weights: Any = None, verbose: bool = True) -> Any:
            del cfg, weights, verbose
            return start

    return GraftTrainer


# --- rebuilding a model from an untrusted checkpoint's plain data ------------------------------------
def _plain(value: Any, depth: int = 0) -> bool:
    if depth > 8:
        return False
    if isinstance(value, _SCALARS):
        return not isinstance(value, str) or len(value) <= 256
    if isinstance(value, list | tuple):
        return len(value) <= 4096 and all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 256 and all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _check_activation(value: Any, error: type[TatorError]) -> None:
    match = _ACTIVATION.match(value) if isinstance(value, str) else None
    if match is None or match.group(1) not in ACTIVATIONS:
        raise error(f"model yaml activation {str(value)[:80]!r} is not an allowed nn activation")
    for arg in filter(None, (a.strip() for a in match.group(2).split(","))):
        if not isinstance(ast.literal_eval(arg), int | float):
            raise error("model yaml activation arguments must be numbers")


def _check_layer(layer: Any, error: type[TatorError]) -> None:
    if not (isinstance(layer, list) and len(layer) == 4 and isinstance(layer[2], str) and isinstance(layer[3], list)):
        raise error("the checkpoint's model yaml has a malformed layer")
    if layer[2] not in LAYER_NAMES:
        raise error(f"model yaml layer {layer[2][:60]!r} is not an allowed YOLO building block")
    repeats, numbers = layer[1], [a for a in layer[3] if isinstance(a, int | float) and not isinstance(a, bool)]
    if not isinstance(repeats, int) or not 1 <= repeats <= MAX_REPEATS or any(abs(a) > MAX_WIDTH for a in numbers):
        raise error("the checkpoint's model yaml has a layer out of bounds (repeats or widths)")


def check_model_yaml(yaml: Any, error: type[TatorError]) -> dict[str, Any]:
    """A model yaml (as stored in a checkpoint) that ultralytics can build without eval or arbitrary lookups,
    and of bounded size: plain data only, layer names from LAYER_NAMES, a Detect head last, an nn activation
    with number arguments, bounded repeats, widths and multiples."""
    if not isinstance(yaml, dict) or not _plain(yaml):
        raise error("the checkpoint's model yaml is missing or not plain data")
    backbone, head = yaml.get("backbone"), yaml.get("head")
    if not isinstance(backbone, list) or not isinstance(head, list) or not isinstance(yaml.get("nc"), int):
        raise error("the checkpoint's model yaml has no backbone/head/nc")
    layers = backbone + head
    if not 0 < len(layers) <= MAX_LAYERS:
        raise error("the checkpoint's model yaml has no layers or too many")
    for layer in layers:
        _check_layer(layer, error)
    if layers[-1][2] != "Detect":
        raise error("head graft bundles hold detection models (a Detect head last)")
    multiples = [yaml.get(k, 1.0) for k in ("depth_multiple", "width_multiple")]
    if not all(isinstance(m, int | float) and 0 < m <= 4 for m in multiples) or yaml.get("channels", 3) not in (1, 3):
        raise error("the checkpoint's model yaml has multiples or channels out of bounds")
    scales = yaml.get("scales") or {}
    if not isinstance(scales, dict) or not all(
        isinstance(v, list) and len(v) == 3 and all(isinstance(x, int | float) and 0 < x <= MAX_WIDTH for x in v)
        for v in scales.values()
    ):
        raise error("the checkpoint's model yaml has malformed scales")
    if yaml.get("activation") is not None:
        _check_activation(yaml["activation"], error)
    return copy.deepcopy(yaml)


def model_tensors(model: Any) -> dict[str, torch.Tensor]:
    """Parameters and buffers by state_dict name, read from the module tree directly (no hooks run)."""
    import torch

    found: dict[str, torch.Tensor] = {}

    def walk(module: Any, prefix: str, depth: int) -> Iterator[tuple[str, Any]]:
        if depth > 64 or not isinstance(module, torch.nn.Module):
            return
        for kind in ("_parameters", "_buffers"):
            yield from ((prefix + k, v) for k, v in dict(getattr(module, kind, {}) or {}).items())
        for name, child in dict(getattr(module, "_modules", {}) or {}).items():
            yield from walk(child, f"{prefix}{name}.", depth + 1)

    for name, value in walk(model, "", 0):
        if isinstance(value, torch.Tensor):
            found[name] = value.detach()
    return found


def rebuild(
    yaml: Mapping[str, Any], tensors: Mapping[str, torch.Tensor], names: Sequence[str], error: type[TatorError]
) -> Any:
    """A fresh DetectionModel built from a checked yaml, re-grafted as its graft record says, holding
    `tensors` exactly (strict: every name and shape must match)."""
    tasks: Any = importlib.import_module("ultralytics.nn.tasks")

    record = graft_record(yaml, len(names))
    sizes = [record["built_nc"], *record["added"]]
    if min(sizes) < 1 or sum(sizes) != len(names) or len(sizes) > 64:
        raise error("the model yaml's graft record does not fit the labelmap")
    cfg = {k: copy.deepcopy(v) for k, v in yaml.items() if k != GRAFT_KEY}
    cfg["nc"] = sizes[0]
    model = tasks.DetectionModel(cfg, ch=int(cfg.get("channels", 3)), nc=sizes[0], verbose=False)
    total = sizes[0]
    for added in sizes[1:]:
        total += added
        expand_head(model, names[:total])
    model.names = dict(enumerate(names))
    try:
        model.load_state_dict(dict(tensors), strict=True)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise error(f"the checkpoint's weights do not match its model yaml: {str(exc)[:200]}") from exc
    return model.eval()

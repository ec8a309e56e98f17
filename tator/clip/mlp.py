"""The MLP head: torch on the CPU for training, exported as plain dense layers for numpy inference.

Early stopping watches a validation slice carved from the *training* images (never the held-out test
images), so the reported test metrics stay untouched by model selection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from tator.clip.fit import FitResult, Layers, StepReport, split_by_image
from tator.jobs.context import CancelToken

log = logging.getLogger(__name__)

INNER_VAL_SHARE = 0.15
MIN_STEPS_PER_EPOCH = 8


@dataclass(frozen=True)
class MlpOptions:
    hidden: tuple[int, ...] = (256,)
    activation: str = "relu"
    epochs: int = 50
    lr: float = 1e-3
    weight_decay: float = 1e-4
    dropout: float = 0.1
    label_smoothing: float = 0.05
    batch_size: int = 128
    patience: int = 6
    seed: int = 42


def _network(dim: int, n_classes: int, options: MlpOptions) -> Any:
    import torch

    layers: list[Any] = []
    width = dim
    for hidden in options.hidden:
        layers += [torch.nn.Linear(width, hidden), torch.nn.GELU(approximate="tanh")
                   if options.activation == "gelu" else torch.nn.ReLU(), torch.nn.Dropout(options.dropout)]  # fmt: skip
        width = hidden
    layers.append(torch.nn.Linear(width, n_classes))
    return torch.nn.Sequential(*layers)


def _export(network: Any) -> Layers:
    import torch

    dense = [m for m in network if isinstance(m, torch.nn.Linear)]
    return [(m.weight.detach().cpu().numpy().astype(np.float32), m.bias.detach().cpu().numpy().astype(np.float32))
            for m in dense]  # fmt: skip


def fit_mlp(
    x: np.ndarray,
    y: np.ndarray,
    weights: np.ndarray,
    groups: np.ndarray,
    *,
    n_classes: int,
    options: MlpOptions,
    cancel: CancelToken,
    on_step: StepReport | None = None,
) -> FitResult:
    """Train with AdamW, weighted label-smoothed cross-entropy and early stopping; cancellable per epoch."""
    import torch

    torch.manual_seed(options.seed)
    inner = split_by_image(y, groups, test_size=INNER_VAL_SHARE, seed=options.seed)
    fit_rows, val_rows = (inner.train, inner.test) if options.patience > 0 else (np.arange(len(y)), y[:0])
    class_w = np.bincount(y, weights=weights, minlength=n_classes) / np.maximum(np.bincount(y, minlength=n_classes), 1)
    network = _network(x.shape[1], n_classes, options)
    optimiser = torch.optim.AdamW(network.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    loss_fn = torch.nn.CrossEntropyLoss(
        weight=torch.as_tensor(np.where(class_w > 0, class_w, 1.0), dtype=torch.float32),
        label_smoothing=options.label_smoothing,
    )
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    generator = torch.Generator().manual_seed(options.seed)
    best: tuple[float, dict[str, Any]] | None = None
    trace: list[dict[str, float]] = []
    stale, epoch = 0, 0
    # Small datasets would get one optimiser step per epoch: keep at least MIN_STEPS_PER_EPOCH.
    batch = max(1, min(options.batch_size, -(-len(fit_rows) // MIN_STEPS_PER_EPOCH)))
    for epoch in range(1, options.epochs + 1):
        cancel.raise_if_cancelled()
        network.train()
        order = torch.as_tensor(fit_rows)[torch.randperm(len(fit_rows), generator=generator)]
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            optimiser.zero_grad()
            loss = loss_fn(network(xt[rows]), yt[rows])
            loss.backward()
            optimiser.step()
        values = _epoch_values(network, loss_fn, xt, yt, fit_rows, val_rows)
        trace.append({"epoch": float(epoch), **values})
        if on_step is not None:
            on_step(epoch, values)
        score = values.get("val_loss", values["train_loss"])
        if best is None or score < best[0] - 1e-4:
            best, stale = (score, {k: v.clone() for k, v in network.state_dict().items()}), 0
        else:
            stale += 1
            if options.patience and stale >= options.patience:
                break
    if best is not None:
        network.load_state_dict(best[1])
    converged = epoch < options.epochs
    return FitResult(_export(network), options.activation, epoch, converged, trace)


def _epoch_values(
    network: Any, loss_fn: Any, xt: Any, yt: Any, fit_rows: np.ndarray, val_rows: np.ndarray
) -> dict[str, float]:
    import torch

    network.eval()
    values: dict[str, float] = {}
    with torch.no_grad():
        for name, rows in (("train", fit_rows), ("val", val_rows)):
            if len(rows) == 0:
                continue
            logits = network(xt[rows])
            values[f"{name}_loss"] = float(loss_fn(logits, yt[rows]))
            values[f"{name}_accuracy"] = float((logits.argmax(1) == yt[rows]).float().mean())
    return values

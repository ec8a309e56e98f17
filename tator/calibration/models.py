"""The two calibrator models: gradient-boosted trees (XGBoost) and a small MLP, both binary (is this candidate a
true positive?), both early-stopped on the tune split only.

Artifacts are safe formats only, never pickle: XGBoost's own JSON (`save_model`) and the MLP's weights in
safetensors with its standardisation in the calibrator's JSON. Scoring the MLP needs numpy only (the forward pass
is three matrix products), so inference does not import torch. xgboost and torch are imported inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Vector = npt.NDArray[np.float64]
ModelKind = Literal["xgb", "mlp"]
XGB_FILE = "model.json"
MLP_FILE = "mlp.safetensors"


@dataclass(frozen=True)
class ModelOptions:
    """Hyper-parameters of both models; `threads` bounds the CPU threads training may use."""

    kind: ModelKind = "xgb"
    seed: int = 42
    threads: int = 2
    xgb_rounds: int = 400
    xgb_depth: int = 6
    xgb_eta: float = 0.05
    early_stopping: int = 30
    mlp_hidden: tuple[int, ...] = (128, 64)
    mlp_epochs: int = 60
    mlp_lr: float = 1e-3
    mlp_weight_decay: float = 1e-4
    mlp_dropout: float = 0.1


@dataclass
class TrainedModel:
    """A trained model: its kind, the model object (Booster or numpy weights) and what training reported."""

    kind: ModelKind
    model: Any
    meta: dict[str, Any] = field(default_factory=dict)
    curve: dict[str, list[float]] = field(default_factory=dict)  # loss per round/epoch on train and tune (not saved)

    def predict(self, features: Matrix) -> Vector:
        """Probability that each row is a true positive."""
        if len(features) == 0:
            return np.zeros(0)
        if self.kind == "xgb":
            import xgboost as xgb

            return np.asarray(self.model.predict(xgb.DMatrix(features)), dtype=np.float64)
        return _mlp_forward(self.model, self.meta, features)

    def save(self, folder: Path) -> list[str]:
        """Write the weights into `folder`; returns the file names written."""
        if self.kind == "xgb":
            self.model.save_model(str(folder / XGB_FILE))
            return [XGB_FILE]
        from safetensors.numpy import save_file

        save_file({k: np.ascontiguousarray(v) for k, v in self.model.items()}, str(folder / MLP_FILE))
        return [MLP_FILE]


def load_model(folder: Path, kind: ModelKind, meta: dict[str, Any]) -> TrainedModel:
    """The model saved by `TrainedModel.save` (JSON trees or safetensors weights; nothing executable)."""
    if kind == "xgb":
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(str(folder / XGB_FILE))
        return TrainedModel("xgb", booster, meta)
    from safetensors.numpy import load_file

    return TrainedModel("mlp", dict(load_file(str(folder / MLP_FILE))), meta)


def train(x_train: Matrix, y_train: npt.NDArray[np.int64], x_tune: Matrix, y_tune: npt.NDArray[np.int64],
          options: ModelOptions) -> TrainedModel:  # fmt: skip
    """Fit on train, early-stop on tune (the test split is never seen here)."""
    if len(np.unique(y_train)) < 2:
        raise ValueError("the training split needs both true and false candidates")
    if options.kind == "xgb":
        return _train_xgb(x_train, y_train, x_tune, y_tune, options)
    return _train_mlp(x_train, y_train, x_tune, y_tune, options)


def _train_xgb(x_train: Matrix, y_train: npt.NDArray[np.int64], x_tune: Matrix, y_tune: npt.NDArray[np.int64],
               options: ModelOptions) -> TrainedModel:  # fmt: skip
    import xgboost as xgb

    pos = max(1, int(y_train.sum()))
    params = {
        "objective": "binary:logistic", "eval_metric": "logloss", "max_depth": options.xgb_depth,
        "eta": options.xgb_eta, "subsample": 0.8, "colsample_bytree": 0.8, "tree_method": "hist",
        "scale_pos_weight": (len(y_train) - pos) / pos, "seed": options.seed, "nthread": options.threads,
    }  # fmt: skip
    dtrain = xgb.DMatrix(x_train, label=y_train)
    evals = [(dtrain, "train")]
    if len(y_tune) and len(np.unique(y_tune)) == 2:
        evals.append((xgb.DMatrix(x_tune, label=y_tune), "tune"))
    history: dict[str, dict[str, list[float]]] = {}
    booster = xgb.train(
        params, dtrain, num_boost_round=options.xgb_rounds, evals=evals, verbose_eval=False,
        early_stopping_rounds=options.early_stopping if len(evals) == 2 else None, evals_result=history,
    )  # fmt: skip
    best = int(getattr(booster, "best_iteration", options.xgb_rounds - 1))
    booster = booster[: best + 1]  # keep only the trees up to the tune split's best round
    curve = {name: [float(v) for v in metrics["logloss"]] for name, metrics in history.items()}
    return TrainedModel("xgb", booster, {"best_iteration": best, "params": params}, curve)


def _mlp_forward(weights: dict[str, Any], meta: dict[str, Any], features: Matrix) -> Vector:
    x = (features - np.asarray(meta["mean"], dtype=np.float32)) / np.asarray(meta["std"], dtype=np.float32)
    layers = int(meta["layers"])
    for n in range(layers):
        x = x @ weights[f"w{n}"].T + weights[f"b{n}"]
        if n < layers - 1:
            x = np.maximum(x, 0.0)
    logits = np.clip(x[:, 0].astype(np.float64), -60, 60)
    return 1.0 / (1.0 + np.exp(-logits))


def _train_mlp(x_train: Matrix, y_train: npt.NDArray[np.int64], x_tune: Matrix, y_tune: npt.NDArray[np.int64],
               options: ModelOptions) -> TrainedModel:  # fmt: skip
    import torch

    torch.manual_seed(options.seed)
    mean = x_train.mean(axis=0)
    std = np.where(x_train.std(axis=0) > 1e-6, x_train.std(axis=0), 1.0).astype(np.float32)
    dims = [x_train.shape[1], *options.mlp_hidden, 1]
    parts: list[torch.nn.Module] = []
    for n in range(len(dims) - 1):
        parts.append(torch.nn.Linear(dims[n], dims[n + 1]))
        if n < len(dims) - 2:
            parts += [torch.nn.ReLU(), torch.nn.Dropout(options.mlp_dropout)]
    net = torch.nn.Sequential(*parts)
    xt = torch.as_tensor((x_train - mean) / std)
    yt = torch.as_tensor(y_train, dtype=torch.float32)
    xv = torch.as_tensor((x_tune - mean) / std)
    yv = torch.as_tensor(y_tune, dtype=torch.float32)
    pos = max(1.0, float(y_train.sum()))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor((len(y_train) - pos) / pos))
    opt = torch.optim.AdamW(net.parameters(), lr=options.mlp_lr, weight_decay=options.mlp_weight_decay)
    generator = torch.Generator().manual_seed(options.seed)
    best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
    curve: dict[str, list[float]] = {"train": [], "tune": []}
    for epoch in range(options.mlp_epochs):
        net.train()
        perm = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(perm), 256):
            idx = perm[start : start + 256]
            opt.zero_grad()
            loss_fn(net(xt[idx])[:, 0], yt[idx]).backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            tune_loss = float(loss_fn(net(xv)[:, 0], yv)) if len(yv) else -epoch
            curve["train"].append(float(loss_fn(net(xt)[:, 0], yt)))
            if len(yv):
                curve["tune"].append(tune_loss)
        if tune_loss < best_loss - 1e-5:
            best_loss, best_epoch, stale = tune_loss, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            stale += 1
            if stale >= max(3, options.early_stopping // 5):
                break
    assert best_state is not None
    linear = [k.rsplit(".", 1)[0] for k in best_state if k.endswith(".weight")]
    weights = {}
    for n, name in enumerate(linear):
        weights[f"w{n}"] = best_state[f"{name}.weight"].numpy().astype(np.float32)
        weights[f"b{n}"] = best_state[f"{name}.bias"].numpy().astype(np.float32)
    meta = {"layers": len(linear), "hidden": list(options.mlp_hidden), "mean": mean.tolist(), "std": std.tolist(),
            "best_epoch": best_epoch}  # fmt: skip
    return TrainedModel("mlp", weights, meta, curve)
